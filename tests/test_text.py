"""Text: the Reuters-21578 reader, ``deepae.apps.text.TextAutoEncoder`` and ``deepae topics``, on tiny corpora."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from typer.testing import CliRunner

from deepae.apps.text import TextAutoEncoder, multinomial_nll
from deepae.cli import app
from deepae.data import load_reuters
from deepae.data._reuters import find_reuters
from deepae.errors import CheckpointError, ConfigError, DataError, NotFittedError

try:
    runner = CliRunner(mix_stderr=False)  # Click < 8.2 mixes stderr into stdout unless told
except TypeError:
    runner = CliRunner()

# -- the reader ---------------------------------------------------------------------------------


def _story(newid, split="TRAIN", topics=("earn",), has_topics="YES", body="Net profit rose.", title="TITLE"):
    d = "".join(f"<D>{t}</D>" for t in topics)
    text = f"<TITLE>{title}</TITLE><DATELINE>NEW YORK, March 2 - </DATELINE>"
    text += f"<BODY>{body}\n Reuter\n&#3;</BODY>" if body is not None else "****** Blah blah blah.\n&#3;"
    return (f'<REUTERS TOPICS="{has_topics}" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" OLDID="1" NEWID="{newid}">\n'
            f"<DATE>26-FEB-1987</DATE>\n<TOPICS>{d}</TOPICS>\n<PLACES><D>usa</D></PLACES>\n"
            f"<TEXT>&#2;\n{text}</TEXT>\n</REUTERS>\n")


@pytest.fixture
def sgml(tmp_path) -> Path:
    """Two SGML files: R8 stories in both splits, and each kind R8 leaves out."""
    first = [
        _story(1, body="Shell &lt;SHL> said oil &amp; gas profit rose"),
        _story(2, topics=("acq",)),
        _story(3, topics=("earn", "acq")),  # two topics: ModApte, not R8
        _story(4, topics=("cocoa",)),  # not one of the 8
        _story(5, has_topics="NO"),  # not ModApte
        _story(6, split="NOT-USED"),
    ]
    second = [
        _story(7, split="TEST", topics=("crude",), body="Caf\xe9 crude oil prices"),  # a latin-1 byte
        _story(8, split="TEST", topics=("grain",), body=None, title="WHEAT EXPORTS UP"),  # a brief: no body
        _story(9, split="TEST", topics=()),  # no topic
    ]
    (tmp_path / "reut2-000.sgm").write_bytes(("<!DOCTYPE lewis SYSTEM \"lewis.dtd\">\n" + "".join(first)).encode("latin-1"))
    (tmp_path / "reut2-001.sgm").write_bytes("".join(second).encode("latin-1"))
    return tmp_path


def test_reader_keeps_the_r8_stories_of_each_split(sgml):
    train, test = load_reuters(sgml, "train"), load_reuters(sgml, "test")
    assert list(train.ids) == [1, 2] and list(test.ids) == [7, 8]
    assert [train.class_names[i] for i in train.y] == ["earn", "acq"] and list(test.y) == [2, 7]
    assert train.texts[0] == "TITLE\nShell <SHL> said oil & gas profit rose\n Reuter"  # entities decoded, &#3; gone
    assert "Café crude" in test.texts[0]
    assert test.texts[1] == "WHEAT EXPORTS UP\n****** Blah blah blah."  # a brief story: title and what TEXT holds
    assert list(load_reuters(sgml, "test", require_body=True).ids) == [7]
    assert list(load_reuters(sgml, "all").ids) == [1, 2, 7, 8]


def test_reader_modapte_subset_keeps_every_topic(sgml):
    corpus = load_reuters(sgml, "train", subset="modapte")
    assert list(corpus.ids) == [1, 2, 3, 4] and corpus.y is None
    assert corpus.topics[2] == ("earn", "acq")


def test_reader_finds_the_folder_from_the_environment(sgml, monkeypatch):
    parent = sgml.parent / "shared"
    parent.mkdir()
    (parent / "reuters21578").symlink_to(sgml)
    monkeypatch.setenv("DEEPAE_SHARED_DATA", str(parent))
    assert find_reuters() == parent / "reuters21578"
    assert find_reuters(parent) == parent / "reuters21578"  # a folder holding reuters21578/ works too


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(split="dev"), ConfigError, "split='dev'"),
    (dict(subset="r52"), ConfigError, "subset='r52'"),
])
def test_reader_refuses_bad_arguments(sgml, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_reuters(sgml, **kwargs)


def test_reader_without_the_files_says_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPAE_SHARED_DATA", raising=False)
    monkeypatch.setenv("DEEPAE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="cannot download.*archive.ics.uci.edu"):
        load_reuters()
    (tmp_path / "reut2-000.sgm").write_text("no stories here")
    with pytest.raises(DataError, match="no <REUTERS> stories"):
        load_reuters(tmp_path)


def test_reader_on_the_real_collection_gives_the_published_r8(shared_data_dir):
    folder = shared_data_dir / "reuters21578"
    if not folder.is_dir():
        pytest.skip("no reuters21578/ in the shared data")
    train, test = load_reuters(folder, "train"), load_reuters(folder, "test")
    assert (len(train), len(test)) == (5485, 2189)  # Cachopo's R8, class by class below
    assert np.bincount(train.y).tolist() == [2840, 1596, 253, 251, 206, 190, 108, 41]
    assert np.bincount(test.y).tolist() == [1083, 696, 121, 75, 87, 81, 36, 10]
    assert (len(load_reuters(folder, "train", require_body=True)), len(load_reuters(folder, "train", subset="modapte"))) == (
        5017, 7775)


# -- the estimator ------------------------------------------------------------------------------

WORDS = {
    "oil": "oil crude barrel opec output refinery petroleum",
    "bank": "bank interest rate fed money loans deposit",
    "grain": "wheat grain harvest corn crop tonnes farmers",
    "ship": "ship port vessel cargo tanker strike shipping",
}


def _corpus(n_per_topic=12, seed=0):
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for label, (_, words) in enumerate(WORDS.items()):
        for _ in range(n_per_topic):
            docs.append(" ".join(rng.choice(words.split(), size=rng.integers(5, 12))))
            labels.append(label)
    return docs, np.array(labels)


TINY = dict(hidden=(16,), code_size=3, epochs=30, batch_size=16, lr=1e-2, num_threads=1, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def fitted():
    docs, labels = _corpus()
    return TextAutoEncoder(**TINY).fit(docs), docs, labels


def test_transform_kneighbors_and_topics(fitted):
    model, docs, labels = fitted
    codes = model.transform(docs)
    assert codes.shape == (len(docs), 3) and codes.dtype == np.float32 and np.isfinite(codes).all()
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]
    dist, idx = model.kneighbors(docs[:5], n_neighbors=4)
    assert dist.shape == idx.shape == (5, 4) and np.all(np.diff(dist, axis=1) >= -1e-6)
    assert np.mean(labels[idx] == labels[:5, None]) > 0.7  # neighbours share the topic
    assert np.array_equal(model.kneighbors(codes[:5], 4, return_distance=False), idx)  # codes work as queries
    assert model.kneighbors("crude oil opec", 1)[1].shape == (1, 1)  # one str is one query
    topics = model.topics(n_words=3)
    assert len(topics) == 3 and all(len(t["up"]) == len(t["down"]) == 3 for t in topics)
    vocabulary = set(" ".join(WORDS.values()).split())
    assert all(set(t["up"]) <= vocabulary for t in topics)
    assert list(model.get_feature_names_out()) == ["textautoencoder0", "textautoencoder1", "textautoencoder2"]


def test_save_load_round_trip(fitted, tmp_path):
    model, docs, _ = fitted
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"config.json", "model.safetensors", "text_state.safetensors"}
    loaded = TextAutoEncoder.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.transform(docs), model.transform(docs))
    for a, b in zip(loaded.kneighbors(docs[:3], 5), model.kneighbors(docs[:3], 5)):
        np.testing.assert_array_equal(a, b)
    assert loaded.topics(4) == model.topics(4) and loaded.get_params() == model.get_params()


def test_damaged_or_foreign_model_folders_are_refused(fitted, tmp_path):
    model, _, _ = fitted
    model.save(tmp_path / "m")
    state = tmp_path / "m" / "text_state.safetensors"
    state.write_bytes(state.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="text_state.safetensors"):
        TextAutoEncoder.load(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    del config["text_autoencoder"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="not a TextAutoEncoder"):
        TextAutoEncoder.load(tmp_path / "m")


def test_repeatable_and_a_scikit_learn_estimator():
    docs, labels = _corpus(6)
    model = TextAutoEncoder(**{**TINY, "epochs": 3})
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert twin.set_params(code_size=2).code_size == 2 and model.code_size == 3
    np.testing.assert_array_equal(model.fit(docs).transform(docs), clone(model).fit(docs).transform(docs))
    halves = clone(model).set_params(epochs=2).fit(docs).set_params(warm_start=True, epochs=1).fit(docs)
    np.testing.assert_array_equal(halves.transform(docs), model.transform(docs))  # 2 + 1 epochs = 3 epochs
    assert len(halves.history_) == 3
    pipe = make_pipeline(TextAutoEncoder(**{**TINY, "epochs": 3}), KNeighborsClassifier(3)).fit(docs, labels)
    assert pipe.predict(docs[:4]).shape == (4,)


def test_n_init_keeps_the_initialisation_with_the_lowest_training_loss():
    docs, _ = _corpus(6)
    model = TextAutoEncoder(**{**TINY, "epochs": 3, "n_init": 3}).fit(docs)
    assert len(model.init_losses_) == 3 and len(set(model.init_losses_)) == 3
    best = int(np.argmin(model.init_losses_))
    # each initialisation i is the model random_state + i gives alone
    alone = [TextAutoEncoder(**{**TINY, "epochs": 3, "random_state": i}).fit(docs) for i in range(3)]
    np.testing.assert_allclose([m.init_losses_[0] for m in alone], model.init_losses_, rtol=1e-6)
    np.testing.assert_array_equal(model.transform(docs), alone[best].transform(docs))
    assert [h["loss"] for h in model.history_] == [h["loss"] for h in alone[best].history_]
    with pytest.raises(ConfigError, match="n_init=0; expected a positive integer"):
        TextAutoEncoder(**{**TINY, "n_init": 0}).fit(docs)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_lr_schedule_sets_the_learning_rate_of_each_epoch(schedule):
    docs, _ = _corpus(4)
    model = TextAutoEncoder(**{**TINY, "epochs": 4, "lr_schedule": schedule}).fit(docs)
    lrs = [h["lr"] for h in model.history_]
    # the lr logged after epoch e; cosine: lr * (1 + cos(pi * e / epochs)) / 2, reaching 0 after the last epoch
    expected = [1e-2] * 4 if schedule == "constant" else [1e-2 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(1, 5)]
    np.testing.assert_allclose(lrs, expected, atol=1e-9)
    if schedule == "cosine":
        with pytest.raises(ConfigError, match="warm_start=True with lr_schedule='cosine'"):
            model.set_params(warm_start=True).fit(docs)
    with pytest.raises(ConfigError, match=r"lr_schedule='linear'; expected one of 'constant', 'cosine'"):
        TextAutoEncoder(**{**TINY, "lr_schedule": "linear"}).fit(docs)


# scikit-learn's estimator checks that apply to an estimator of texts (the rest feed it numeric arrays)
TEXT_CHECKS = ["check_parameters_default_constructible", "check_no_attributes_set_in_init", "check_get_params_invariance",
               "check_set_params", "check_estimator_repr", "check_estimator_cloneable", "check_mixin_order"]


@pytest.mark.parametrize("check", TEXT_CHECKS)
def test_scikit_learn_checks_that_apply(check):
    from sklearn.utils import estimator_checks

    getattr(estimator_checks, check)("TextAutoEncoder", TextAutoEncoder())
    assert TextAutoEncoder().__sklearn_tags__().input_tags.string


@pytest.mark.parametrize("docs, match", [
    ([], "empty corpus"),
    ("one text", "single str"),
    (["fine", None], "document 1 is NoneType"),
    (["fine", 3.5], "document 1 is float"),
    ([b"\xff\xfe text"], "document 0 is bytes that are not UTF-8"),
    (np.zeros((2, 3)), "array of shape"),
    (42, "got int"),
    (["the and of", "is it"], "no words to learn from"),
])
def test_bad_documents_are_refused(docs, match):
    with pytest.raises(DataError, match=match):
        TextAutoEncoder(**TINY).fit(docs)


def test_bad_queries_and_settings_are_refused(fitted):
    model, _, _ = fitted
    with pytest.raises(DataError, match=r"shape \(2, 7\); expected \(n_queries, 3\)"):
        model.kneighbors(np.zeros((2, 7)))
    with pytest.raises(DataError, match="query 0 is int"):
        model.kneighbors([7])
    with pytest.raises(ConfigError, match="n_neighbors=1000"):
        model.kneighbors(["oil"], 1000)
    with pytest.raises(ConfigError, match="weighting='bm25'"):
        TextAutoEncoder(weighting="bm25").fit(["oil"])
    with pytest.raises(NotFittedError):
        TextAutoEncoder().transform(["oil"])
    assert model.transform([b"crude oil"]).shape == (1, 3)  # UTF-8 bytes are text


def test_multinomial_nll_is_the_per_word_cross_entropy():
    import torch

    counts = torch.tensor([[2.0, 0.0, 1.0]])
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    expected = -(2 * np.log(0.5) + np.log(0.25)) / 3
    assert multinomial_nll(logits, counts).item() == pytest.approx(expected)


# -- the command line ---------------------------------------------------------------------------


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("topics")
    docs, _ = _corpus(5)
    (folder / "docs.jsonl").write_text("\n".join(json.dumps({"id": f"doc{i}", "text": d}) for i, d in enumerate(docs)))
    result = invoke("--quiet", "topics", "fit", folder / "docs.jsonl", "-o", folder / "model", "--epochs", 3,
                    "--code-size", 3)
    assert result.exit_code == 0, result.output
    return folder / "model"


def test_cli_fit_query_show(model_dir):
    assert {d["name"] for d in json.loads((model_dir / "documents.json").read_text())} == {f"doc{i}" for i in range(20)}
    result = invoke("topics", "query", model_dir, "crude oil opec", "-k", 3)
    assert result.exit_code == 0 and len(re.findall(r"\bdoc\d+\b", result.stdout)) == 3
    result = invoke("topics", "show", model_dir, "--words", 2)
    assert result.exit_code == 0 and "up" in result.stdout


@pytest.mark.parametrize("kind", ["folder", "lines"])
def test_cli_reads_folders_and_line_files(tmp_path, kind):
    docs, _ = _corpus(3)
    if kind == "folder":
        (tmp_path / "in" / "sub").mkdir(parents=True)
        for i, d in enumerate(docs):
            (tmp_path / "in" / ("sub" if i % 2 else "") / f"{i:02d}.txt").write_text(d)
    else:
        (tmp_path / "in").write_text("\n\n".join(docs))
    result = invoke("--quiet", "topics", "fit", tmp_path / "in", "-o", tmp_path / "m", "--epochs", 1, "--code-size", 2)
    assert result.exit_code == 0, result.output
    names = [d["name"] for d in json.loads((tmp_path / "m" / "documents.json").read_text())]
    assert len(names) == len(docs) and names[0] == ("00.txt" if kind == "folder" else "line 1")


def test_cli_force_replaces_a_topics_model(tmp_path):
    docs, _ = _corpus(3)
    (tmp_path / "in").write_text("\n\n".join(docs))
    args = ("--quiet", "topics", "fit", tmp_path / "in", "-o", tmp_path / "m", "--epochs", 1, "--code-size", 2)
    assert invoke(*args).exit_code == 0
    assert invoke(*args).exit_code == 2  # not without --force
    result = invoke(*args, "--force", "--seed", 1)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "config.json").read_text())["text_autoencoder"]["params"]["random_state"] == 1


def test_cli_errors_are_one_line(model_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text field"}\n')
    cases = [
        (("topics", "fit", bad, "-o", tmp_path / "m"), 'line 2: expected an object with a "text"'),
        (("topics", "fit", tmp_path / "missing.txt", "-o", tmp_path / "m"), "no such file or folder"),
        (("topics", "fit", bad, "-o", model_dir), "already exists and is not empty; pass --force"),
        (("topics", "query", tmp_path, "oil"), "is not a deepae model"),
    ]
    image_run = tmp_path / "image-run"  # a folder written by `deepae train`: its config.json has no topics section
    image_run.mkdir()
    (image_run / "config.json").write_text('{"format": "deepae-checkpoint", "model": {"name": "dense"}}')
    (image_run / "metrics.json").write_text("{}")
    cases.append((("topics", "fit", bad, "-o", image_run, "--force"), "is not a topics model; --force replaces only"))
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (model_dir / "config.json").is_file()  # the refused fit left the model alone
    assert sorted(p.name for p in image_run.iterdir()) == ["config.json", "metrics.json"]
