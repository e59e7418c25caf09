"""``deepae topics fit|query|show``: codes, nearest documents and topics of a text collection.

DOCS, the documents to learn from, is one of
- a folder: every ``*.txt`` file under it (sorted, recursively) is one document, named by its path;
- a ``.jsonl`` file: one JSON object per line with a "text" field (and optionally "id" or "name");
- any other text file: every non-blank line is one document, named "line N".
Files are read as UTF-8. The model folder holds the ``TextAutoEncoder`` (``TextAutoEncoder.load``
reads it) and ``documents.json``, the names and first words of the documents, for ``query``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .._io import atomic_write_json
from ..apps.text import SECTION, TextAutoEncoder
from ..errors import CheckpointError, ConfigError, DataError
from ..train.checkpoint import CONFIG_FILE, read_config
from ._base import console, get_settings, warn

app = typer.Typer()
topics_app = typer.Typer(help="Topics and retrieval on text: fit a TextAutoEncoder, query it, show its topics.",
                         no_args_is_help=True)
app.add_typer(topics_app, name="topics")

DOCUMENTS_FILE = "documents.json"
_SNIPPET = 160  # characters of each document kept in documents.json
_MODEL_DIR = typer.Argument(..., help="A model folder written by `deepae topics fit`.")


def read_documents(source: Path) -> tuple[list[str], list[str]]:
    """(names, texts) of the documents in ``source`` (a folder of .txt files, a .jsonl or a text file)."""
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"{source}: the folder holds no .txt files (one document per file)")
        return [str(p.relative_to(source)) for p in files], [_read_text(p) for p in files]
    text = _read_text(source)
    names, texts = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if source.suffix.lower() == ".jsonl":
            name, line = _json_document(source, number, line)
            names.append(name)
        else:
            names.append(f"line {number}")
        texts.append(line)
    if not texts:
        raise DataError(f"{source}: no documents (the file is empty or blank)")
    return names, texts


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _json_document(source: Path, number: int, line: str) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise DataError(f"{source}, line {number}: not JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise DataError(f'{source}, line {number}: expected an object with a "text" string field')
    name = record.get("id", record.get("name", f"line {number}"))
    return str(name), record["text"]


def _check_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output '{out}' is a file; name a folder for the model")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"output folder '{out}' already exists and is not empty; pass --force to replace the model in it")
    if (out / CONFIG_FILE).is_file():
        # --force replaces a topics model; over another model (an image run) it would leave that run's
        # files (metrics, figures, report) beside the new one
        try:
            ours = SECTION in read_config(out)
        except CheckpointError:
            ours = False
        if not ours:
            raise ConfigError(f"output folder '{out}' holds a deepae model that is not a topics model; "
                              "--force replaces only a topics model: choose another folder")


def _load(model_dir: Path) -> tuple[TextAutoEncoder, list[dict]]:
    model = TextAutoEncoder.load(model_dir)
    path = model_dir / DOCUMENTS_FILE
    try:
        documents = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read '{path}': {exc}") from None
    if not isinstance(documents, list) or len(documents) != len(model.train_codes_):
        raise CheckpointError(f"'{path}' does not list the {len(model.train_codes_)} documents the model was fitted on")
    return model, documents


@topics_app.command("fit")
def fit(
    ctx: typer.Context,
    docs: Path = typer.Argument(..., help="A folder of .txt files, a .jsonl file with a \"text\" field, or a text file "
                                          "with one document per line."),
    out: Path = typer.Option(..., "--output", "-o", help="Model folder to write."),
    epochs: int = typer.Option(40, "--epochs", min=1, help="Training epochs."),
    code_size: int = typer.Option(10, "--code-size", min=1, help="Code dimensions (topics)."),
    max_features: int = typer.Option(2000, "--max-features", min=1, help="Vocabulary size."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    force: bool = typer.Option(False, "--force", help="Replace a model already in the output folder."),
) -> None:
    """Learn codes for a collection of documents (a deep autoencoder on their bags of words).

    \b
    Example:
      deepae topics fit articles/ -o topics-model
      deepae topics fit news.jsonl -o topics-model --epochs 60
    """
    _check_output(out, force)
    names, texts = read_documents(docs)
    quiet = get_settings(ctx).quiet
    if not quiet:
        console.print(f"{len(texts):,} documents from {docs}; training {epochs} epochs")
    model = TextAutoEncoder(max_features=max_features, code_size=code_size, epochs=epochs, random_state=seed,
                            verbose=not quiet).fit(texts)
    atomic_write_json(out / DOCUMENTS_FILE, [{"name": n, "start": " ".join(t.split())[:_SNIPPET]} for n, t in zip(names, texts)])
    model.save(out)  # config.json last: its presence marks a complete model folder
    if not quiet:
        console.print(f"Wrote {out} (vocabulary {model.vocabulary_size_:,} words, {code_size}-d codes, "
                      f"final loss {model.history_[-1]['loss']:.4g} nats per word)")


@topics_app.command("query")
def query(
    model_dir: Path = _MODEL_DIR,
    text: str = typer.Argument(..., help="The query text."),
    k: int = typer.Option(5, "-k", "--neighbors", min=1, help="Number of documents to list."),
) -> None:
    """List the fitted documents nearest a query text (cosine similarity of codes).

    \b
    Example:
      deepae topics query topics-model "oil prices fall as opec output rises" -k 5
    """
    model, documents = _load(model_dir)
    if model.vectorizer_.transform([text]).nnz == 0:
        warn("none of the query's words is in the model's vocabulary; the neighbours are arbitrary")
    dist, idx = model.kneighbors([text], min(k, len(documents)))
    table = Table(title=f"{len(idx[0])} nearest documents", title_justify="left")
    for col, justify in (("rank", "right"), ("similarity", "right"), ("document", "left"), ("start", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for rank, (d, i) in enumerate(zip(dist[0], idx[0]), start=1):
        doc = documents[i] if isinstance(documents[i], dict) else {}
        table.add_row(str(rank), f"{1 - float(d):.3f}", str(doc.get("name", i)), str(doc.get("start", ""))[:80])
    console.print(table)


@topics_app.command("show")
def show(
    model_dir: Path = _MODEL_DIR,
    words: int = typer.Option(8, "--words", "-n", min=1, help="Words per direction."),
) -> None:
    """Show the words each code dimension moves: up (more likely) and down (less likely).

    \b
    Example:
      deepae topics show topics-model --words 10
    """
    model = TextAutoEncoder.load(model_dir)
    table = Table(title=f"Topics of {model_dir}: words gaining (up) and losing (down) along each code dimension",
                  title_justify="left")
    for col in ("dim", "up", "down"):
        table.add_column(col, overflow="fold")
    for topic in model.topics(min(words, model.vocabulary_size_)):
        table.add_row(str(topic["dimension"]), ", ".join(topic["up"]), ", ".join(topic["down"]))
    console.print(table)
