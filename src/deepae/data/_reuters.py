"""Reader for the Reuters-21578 news collection (Distribution 1.0): ModApte split, R8 subset.

The collection is 22 SGML files ``reut2-000.sgm`` ... ``reut2-021.sgm`` (21,578 ``<REUTERS>``
stories). They are SGML, not XML (bodies end with the character reference ``&#3;``, and one byte of
``reut2-017.sgm`` is not UTF-8), so they are read as latin-1 and cut up with regular expressions.

- ModApte split (the collection's README, section VIII.B): stories with ``TOPICS="YES"``,
  ``LEWISSPLIT="TRAIN"`` or ``"TEST"``, here with at least one topic: 7,775 train / 3,019 test.
- R8 (Cachopo 2007): the ModApte stories with exactly one topic, that topic among the 8 most
  frequent single-topic ones: 5,485 train / 2,189 test, the published counts, class by class.

The text of a story is its title and body. About 9 % of the stories have no ``<BODY>``: "brief"
stories are a title and "Blah blah blah.", "unprocessed" ones plain text; their text is the title
and whatever the ``<TEXT>`` element holds, as in the usual R8 files. ``require_body=True`` drops them
(R8: 5,017 train / 1,999 test).

The files cannot be downloaded by deepae: no checksum of the original archive is recorded here, so
nothing could verify a download. Fetch ``reuters21578.tar.gz`` from the UCI repository
(https://archive.ics.uci.edu/dataset/137/reuters+21578+text+categorization+collection), unpack it,
and pass the folder as ``data_dir`` (or set ``$DEEPAE_SHARED_DATA`` to a folder holding ``reuters21578/``).
"""

from __future__ import annotations

import functools
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepae.data._download import cache_dir
from deepae.errors import ConfigError, DataError

FOLDER = "reuters21578"
N_FILES = 22
DATA_ENV_VAR = "DEEPAE_SHARED_DATA"
UCI_URL = "https://archive.ics.uci.edu/dataset/137/reuters+21578+text+categorization+collection"
# The 8 most frequent topics among single-topic ModApte stories, most frequent first.
R8_TOPICS = ("earn", "acq", "crude", "trade", "money-fx", "interest", "ship", "grain")
SUBSETS = ("r8", "modapte")
SPLITS = ("train", "test", "all")

_STORY = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<body>.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.S)
_D = re.compile(r"<D>(.*?)</D>", re.S)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.S)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)
_TEXT = re.compile(r"<TEXT[^>]*>(.*?)</TEXT>", re.S)
_TEXT_EXTRAS = re.compile(r"<(TITLE|DATELINE|AUTHOR)>.*?</\1>", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, eq=False)
class TextCorpus:
    """Documents with their topics: ``texts[i]`` has the topics ``topics[i]`` (one or more).

    ``y`` (int64, indices into ``class_names``) is set for single-label subsets such as R8, else None.
    ``ids`` are the stories' NEWID numbers.
    """

    texts: list[str]
    topics: list[tuple[str, ...]]
    ids: np.ndarray
    name: str
    source: str
    y: np.ndarray | None = None
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        labels = "multi-label" if self.y is None else f"{len(self.class_names or [])} classes"
        return f"TextCorpus({self.name!r}, n={len(self)}, {labels})"


def load_reuters(
    data_dir: str | os.PathLike | None = None, split: str = "train", subset: str = "r8", require_body: bool = False
) -> TextCorpus:
    """Reuters-21578 stories of the ModApte ``split`` ("train", "test" or "all"), as a ``TextCorpus``.

    ``subset="r8"``: single-topic stories of the 8 most frequent topics (labels ``y``);
    ``"modapte"``: every ModApte story with at least one topic (topics only, no ``y``).
    ``require_body``: keep only stories with a non-empty ``<BODY>`` (see the module doc).
    ``data_dir`` is the folder of the 22 ``reut2-*.sgm`` files or a folder holding ``reuters21578/``;
    by default ``$DEEPAE_SHARED_DATA/reuters21578``, else ``<cache>/reuters21578``. Nothing is downloaded.
    """
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}; expected one of {', '.join(SPLITS)}")
    if subset not in SUBSETS:
        raise ConfigError(f"subset={subset!r}; expected one of {', '.join(SUBSETS)}")
    folder = find_reuters(data_dir)
    wanted = {"train": ("TRAIN",), "test": ("TEST",), "all": ("TRAIN", "TEST")}[split]
    texts, topics, ids = [], [], []
    for story in read_stories(folder):
        if story["lewissplit"] not in wanted or story["topics_attr"] != "YES" or not story["topics"]:
            continue
        if require_body and not story["body"]:
            continue
        text = f"{story['title']}\n{story['body'] or story['text']}".strip()
        if not text:
            continue
        if subset == "r8" and (len(story["topics"]) != 1 or story["topics"][0] not in R8_TOPICS):
            continue
        texts.append(text)
        topics.append(story["topics"])
        ids.append(story["newid"])
    y = class_names = None
    if subset == "r8":
        class_names = list(R8_TOPICS)
        y = np.array([R8_TOPICS.index(t[0]) for t in topics], dtype=np.int64)
    return TextCorpus(texts, topics, np.array(ids, dtype=np.int64), f"reuters-{subset}", str(folder), y, class_names)


def find_reuters(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding ``reut2-000.sgm`` ...; DataError naming where it looked otherwise."""
    if data_dir is not None:
        candidates = [Path(data_dir), Path(data_dir) / FOLDER]
    else:
        shared = os.environ.get(DATA_ENV_VAR)
        candidates = ([Path(shared) / FOLDER, Path(shared)] if shared else []) + [cache_dir() / FOLDER]
    for folder in candidates:
        if (folder / "reut2-000.sgm").is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"Reuters-21578: reut2-000.sgm not found in {looked}; deepae cannot download it (no verified checksum): "
        f"get reuters21578.tar.gz from {UCI_URL}, unpack it and pass its folder as data_dir (--data-dir)"
    )


def read_stories(folder: str | os.PathLike) -> list[dict]:
    """Every ``<REUTERS>`` story of the ``reut2-*.sgm`` files in ``folder``, in file order.

    Each story is a dict: newid (int), lewissplit, topics_attr ("YES"/"NO"/"BYPASS"), topics (tuple),
    title, body, text (the ``<TEXT>`` element less its title, dateline and author: the body where
    there is one); entities decoded, control characters dropped. The parse (1-2 s) is kept for the
    files as they are (names, sizes, modification times), so train and test loads read them once.
    """
    folder = Path(folder)
    files = sorted(folder.glob("reut2-*.sgm"))
    if not files:
        raise DataError(f"Reuters-21578: no reut2-*.sgm files in {folder}")
    key = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return [dict(story) for story in _parse_files(key)]


@functools.lru_cache(maxsize=2)
def _parse_files(key: tuple[tuple[str, int, int], ...]) -> tuple[dict, ...]:
    stories: list[dict] = []
    for name, _, _ in key:
        path = Path(name)
        text = path.read_bytes().decode("latin-1")  # one byte of reut2-017.sgm is not UTF-8
        found = [_parse_story(m, path) for m in _STORY.finditer(text)]
        if not found:
            raise DataError(f"{path}: no <REUTERS> stories found; is this a Reuters-21578 SGML file?")
        stories += found
    return tuple(stories)


def _parse_story(match: re.Match, path: Path) -> dict:
    attrs = dict(_ATTR.findall(match["attrs"]))
    if "NEWID" not in attrs or not attrs["NEWID"].isdigit():
        raise DataError(f"{path}: a <REUTERS> tag without a numeric NEWID attribute: {match['attrs'].strip()[:80]!r}")
    body = match["body"]
    topics_block = _TOPICS.search(body)
    topics = tuple(_clean(t) for t in _D.findall(topics_block[1])) if topics_block else ()
    title, main, whole = _TITLE.search(body), _BODY.search(body), _TEXT.search(body)
    rest = _TEXT_EXTRAS.sub(" ", whole[1]) if whole else ""
    return {
        "newid": int(attrs["NEWID"]),
        "lewissplit": attrs.get("LEWISSPLIT", ""),
        "topics_attr": attrs.get("TOPICS", ""),
        "topics": topics,
        "title": _clean(title[1]) if title else "",
        "body": _clean(main[1]) if main else "",
        "text": _clean(rest.replace("<BODY>", "").replace("</BODY>", "")),
    }


def _clean(sgml: str) -> str:
    """SGML text to plain text: entities decoded (``&lt;``, ``&#3;``), control characters dropped."""
    return _CONTROL.sub("", html.unescape(sgml)).strip()
