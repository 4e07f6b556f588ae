"""The reading-comprehension metric: the official CMRC2018 metric (cmrc2018_evaluate.py), same semantics:

- text is lower-cased and stripped;
- mixed segmentation: every CJK character [\\u4e00-\\u9fa5] and every official special punctuation
  character is its own segment; runs of other characters are tokenized as English words.
  The official uses nltk.word_tokenize, whose data we cannot download: here a run is split on
  whitespace into letter/digit words (decimal numbers such as 3.5 or 1,000 kept whole), every
  other non-space character being a token of its own. This matches nltk on ordinary words,
  numbers and punctuation; it differs on English clitics ("don't" -> do n't in nltk).
- F1: the LONGEST COMMON CONTIGUOUS run of segments (the official find_lcs is the substring DP,
  although it is often described as a subsequence), punctuation removed; precision = lcs /
  len(prediction), recall = lcs / len(answer); the maximum over the reference answers.
- EM: 1 when the prediction equals one answer after removing the special punctuation.
- A question without a prediction is counted in SKIP and scores 0; F1 and EM are 100 * mean over
  TOTAL questions; AVERAGE = (EM + F1) / 2; printed as the official does:
  {"AVERAGE": "%.3f", "F1": "%.3f", "EM": "%.3f", "TOTAL": n, "SKIP": n}.

The official special characters are matched one character at a time, so its two-character entry
"……" never matches a single "…": kept that way to give the official numbers.

Usage: python -m evaluation.cmrc2018 dataset.json predictions.json (evaluation/cmrc2018.py, the
original's name for this command; `python -m evaluation.reading` is the same).
"""

import collections
import json
import re
import sys

from fileio.text import read_utf8

SPECIAL_CHARS = ['-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=',
                 '，', '。', '：', '？', '！', '“', '”', '；', '’', '《', '》', '……', '·', '、',
                 '「', '」', '（', '）', '－', '～', '『', '』']
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_ENGLISH_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+|\S")


def english_tokenize(text):
    return _ENGLISH_TOKEN.findall(text)


def mixed_segmentation(text, remove_punctuation=False):
    text = str(text).lower().strip()
    segments, run = [], ""
    for char in text:
        if remove_punctuation and char in SPECIAL_CHARS:
            continue
        if _CJK.search(char) or char in SPECIAL_CHARS:
            if run:
                segments.extend(english_tokenize(run))
                run = ""
            segments.append(char)
        else:
            run += char
    if run:
        segments.extend(english_tokenize(run))
    return segments


def strip_punctuation(text):
    return "".join(char for char in str(text).lower().strip() if char not in SPECIAL_CHARS)


def longest_common_run(a, b):
    """Length of the longest common contiguous run of two segment lists (official find_lcs)."""
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def f1_score(answers, prediction):
    scores = [0.0]
    prediction_segments = mixed_segmentation(prediction, remove_punctuation=True)
    for answer in answers:
        answer_segments = mixed_segmentation(answer, remove_punctuation=True)
        common = longest_common_run(answer_segments, prediction_segments)
        if common == 0:
            continue
        precision = common / len(prediction_segments)
        recall = common / len(answer_segments)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


def em_score(answers, prediction):
    prediction = strip_punctuation(prediction)
    return 1 if any(strip_punctuation(answer) == prediction for answer in answers) else 0


def reading_metrics(dataset, predictions, log=sys.stderr):
    """dataset: the parsed SQuAD-style JSON; predictions: id -> text. Returns the official dict."""
    f1 = em = total = skip = 0
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                qid = qa["id"].strip()
                answers = [answer["text"] for answer in qa["answers"]]
                if qid not in predictions:
                    if log is not None:
                        log.write(f"Unanswered question: {qid}\n")
                    skip += 1
                    continue
                prediction = str(predictions[qid])
                f1 += f1_score(answers, prediction)
                em += em_score(answers, prediction)
    f1_percent = 100.0 * f1 / total if total else 0.0
    em_percent = 100.0 * em / total if total else 0.0
    return collections.OrderedDict([
        ("AVERAGE", "%.3f" % ((em_percent + f1_percent) * 0.5)),
        ("F1", "%.3f" % f1_percent),
        ("EM", "%.3f" % em_percent),
        ("TOTAL", total),
        ("SKIP", skip),
    ])


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: python -m evaluation.cmrc2018 dataset.json predictions.json\n")
        return 2
    try:
        dataset, predictions = _read_json(argv[1]), _read_json(argv[2])
        if not isinstance(predictions, dict):
            raise ValueError(f"{argv[2]}: expected an object of question id -> answer text")
        result = _metrics_of_file(argv[1], dataset, predictions)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"cmrc2018: error: {error}\n")
        return 1
    print(json.dumps(result))
    return 0


def _read_json(path):
    try:
        text = read_utf8(path)
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON: nested too deeply") from None


def _metrics_of_file(path, dataset, predictions):
    """reading_metrics, a dataset that is not SQuAD-shaped said in one line naming the file."""
    try:
        return reading_metrics(dataset, predictions)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a SQuAD-style dataset (data[].paragraphs[].qas[] with id and "
                         f"answers[].text): {type(error).__name__} {error}") from None


if __name__ == "__main__":
    sys.exit(main(sys.argv))
