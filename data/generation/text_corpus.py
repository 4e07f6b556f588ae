"""Plain text for pretraining, gathered from files of other shapes.

create_pretraining_data.py reads one sentence per line with a blank line between documents. The
functions here turn a SQuAD-style JSON (each paragraph's context a document), a column of a TSV
file (each row a document) or such a corpus itself into documents (lists of sentences), and write
them in that layout. Only text is read: labels, questions and answers are never copied. The
inputs are read as strict UTF-8 (fileio/text.py): an invalid byte stops with the file and line.
"""
import json
import re
from typing import Iterable, Iterator, List

from fileio.atomic import atomic_output
from fileio.text import read_utf8, utf8_lines

# A sentence ends after a run of Chinese or Western end punctuation and the closing quotes or brackets
# right after it (ASCII quotes are left out: they open as often as they close).
_END = "。！？!?；;…"
_SENTENCE = re.compile(f"[^{_END}]+(?:[{_END}]+[”’」』）)]*)?|[{_END}]+[”’」』）)]*")

Document = List[str]


def split_sentences(text: str) -> List[str]:
    """The sentences of `text`, each stripped, none empty; line breaks end sentences too."""
    sentences = []
    for line in text.splitlines():
        sentences.extend(piece.strip() for piece in _SENTENCE.findall(line))
    return [sentence for sentence in sentences if sentence]


def squad_documents(path: str) -> Iterator[Document]:
    """One document per paragraph context of a SQuAD-format file (CMRC2018 and the like)."""
    try:
        squad = json.loads(read_utf8(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(squad, dict) or not isinstance(squad.get("data"), list):
        raise ValueError(f"{path}: not SQuAD format (a top-level object with a 'data' list)")
    for article_index, article in enumerate(squad["data"]):
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise ValueError(f"{path}: article {article_index} has a paragraph without a 'context' string")
            sentences = split_sentences(context)
            if sentences:
                yield sentences


def tsv_documents(path: str, column: int, skip_header: bool) -> Iterator[Document]:
    """One document per row of a tab-separated file: the sentences of its `column` (0-based)."""
    for line_number, line in utf8_lines(path):
        if skip_header and line_number == 1:
            continue
        fields = line.split("\t")
        if not line.strip():
            continue
        if column >= len(fields):
            raise ValueError(f"{path}:{line_number}: {len(fields)} field(s), no column {column}")
        sentences = split_sentences(fields[column])
        if sentences:
            yield sentences


def corpus_documents(path: str) -> Iterator[Document]:
    """The documents of a file already in the pretraining layout (a blank line between documents)."""
    document: Document = []
    for _, line in utf8_lines(path):
        line = line.strip()
        if line:
            document.append(line)
        elif document:
            yield document
            document = []
    if document:
        yield document


def write_documents(documents: Iterable[Document], path: str) -> dict:
    """Writes the documents in the pretraining layout (under a temporary name, renamed when complete)
    and returns how much was written."""
    counts = {"documents": 0, "sentences": 0, "characters": 0}
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            for document in documents:
                if counts["documents"]:
                    f.write("\n")
                for sentence in document:
                    f.write(sentence + "\n")
                counts["documents"] += 1
                counts["sentences"] += len(document)
                counts["characters"] += sum(len(sentence) for sentence in document)
    return counts
