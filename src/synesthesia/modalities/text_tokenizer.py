"""Text tokenizers (from the ``tokenizers`` package), trained on a run's training captions.

Two kinds, ``modalities.text.tokenizer``:

* ``word``: a word-level vocabulary (lower-cased; words split on white space, punctuation split
  off). Compact and exact on a closed vocabulary such as the shapes world's; a word it has not
  seen cannot be written (at inference it is an error, in training data it becomes ``[UNK]``).
* ``bpe``: byte-level BPE (as GPT-2; lower-cased, NFKC-normalised) with up to ``vocab_size``
  tokens. Every string encodes, unseen words as pieces and in the last resort as bytes, and
  decodes back to the same (normalised) text: open vocabulary for users' captions.

Both reserve the same special tokens at the same ids (``PAD, UNK, BOS, EOS = 0, 1, 2, 3``), so the
networks read either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
UNWRITTEN = [PAD, UNK, BOS]          # tokens a text decoder never emits
PUNCTUATION = ". , ; : ! ?"
TOKENIZERS = ("word", "bpe")
DEFAULT_BPE_VOCAB = 4096
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def new_word_tokenizer():
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(r"[,.;:!?]"), behavior="isolated"),
    ])
    return tok


def new_bpe_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(captions: Sequence[str], kind: str = "word", vocab_size: int | None = None):
    """A tokenizer of ``kind`` trained on ``captions``; ``vocab_size`` caps the vocabulary (the
    most frequent words for ``word``; the merges' target for ``bpe``, default 4096)."""
    from tokenizers import pre_tokenizers, trainers

    if kind == "word":
        tok = new_word_tokenizer()
        extra = {"vocab_size": vocab_size} if vocab_size else {}
        trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1,
                                            show_progress=False, **extra)
        texts = list(captions) + [PUNCTUATION]
    elif kind == "bpe":
        tok = new_bpe_tokenizer()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size or DEFAULT_BPE_VOCAB, min_frequency=2,
                                      special_tokens=SPECIAL_TOKENS, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        texts = list(captions)
    else:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}; got {kind!r}")
    tok.train_from_iterator(texts, trainer)
    for i, t in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(t) != i:
            raise RuntimeError(f"special token {t} did not get id {i}")
    return tok


def decode_ids(tok, kind: str, ids: Sequence[int]) -> str:
    """Token ids (no specials) -> text, punctuation attached as written."""
    if kind == "bpe":
        return tok.decode(list(ids), skip_special_tokens=True).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", tok.decode(list(ids)))


def words(text: str) -> list[str]:
    """The words of a decoded caption (runs of letters and digits), for comparing captions."""
    return _WORD.findall(text.lower())
