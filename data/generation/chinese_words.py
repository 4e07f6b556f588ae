"""Chinese whole-word masking groups: jieba words mark which characters continue a word.

The token ids written stay those of the plain characters; only the masking groups change. A
character token that continues a multi-character jieba word is returned as a
`ContinuationToken` (a `str` equal to the plain token), which the masking step groups with the
token before it, as it groups `##` pieces.
"""

import logging

from data.tokenization import is_cjk_char


class ContinuationToken(str):
    """A token equal to its plain text that continues the word of the token before it."""

    __slots__ = ()


class ChineseWordSegmenter:
    """Marks word continuations in a FullTokenizer's output using jieba (loaded on first use)."""

    def __init__(self, tokenizer):
        if not hasattr(tokenizer, "tokenize_by_piece"):
            raise TypeError("Chinese whole-word masking needs a FullTokenizer (WordPiece vocabulary)")
        self.tokenizer = tokenizer
        self._jieba = None

    def _segmenter(self):
        if self._jieba is None:
            import jieba  # a dictionary load of about a second, paid only with --chinese_wwm

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            self._jieba = jieba
        return self._jieba

    def words(self, text):
        """jieba's words of `text`, in order; together they are `text`."""
        return self._segmenter().lcut(text)

    def word_index_of_chars(self, text):
        """For every character of `text`, the index of the jieba word it belongs to."""
        owners = []
        for index, word in enumerate(self.words(text)):
            owners.extend([index] * len(word))
        return owners

    def tokenize(self, text):
        """The tokenizer's tokens for `text`, continuations of multi-character words marked."""
        owners = self.word_index_of_chars(text)
        cjk_positions = iter([i for i, c in enumerate(text) if is_cjk_char(c)])
        tokens = []
        previous_position = None  # line position of the CJK piece just before, if adjacent
        for piece, piece_tokens in self.tokenizer.tokenize_by_piece(text):
            if len(piece) == 1 and is_cjk_char(piece):
                # Compatibility ideographs stay ideographs when NFD-normalised, so pieces and
                # CJK characters of the line correspond one to one, in order.
                position = next(cjk_positions)
                continues = (previous_position == position - 1 and owners[position] == owners[previous_position])
                if continues and len(piece_tokens) == 1:
                    tokens.append(ContinuationToken(piece_tokens[0]))
                else:
                    tokens.extend(piece_tokens)
                previous_position = position
            else:
                tokens.extend(piece_tokens)
                previous_position = None
        return tokens
