"""Text: captions as token ids ``(L,)`` from a ``tokenizers`` tokenizer trained on the run's
training captions and saved with it as ``assets/tokenizer.json``.

``tokenizer: word`` is a word-level vocabulary, ``tokenizer: bpe`` byte-level BPE with up to
``vocab_size`` tokens, which encodes any caption (see :mod:`synesthesia.modalities.text_tokenizer`).
A stored caption is ``[t_1 .. t_n, EOS, PAD ...]`` of length ``max_len``.

Input policy. Empty text, text over ``limits.text_chars`` and words outside a
word-level vocabulary (named in the error) are errors. A caption of more than ``max_len - 1``
tokens is an error naming the limit at inference (:meth:`TextModality.encode`: a prompt is never
cut silently) and is cut to ``max_len - 1`` tokens in training data
(:meth:`TextModality.encode_data`), with one warning per batch.

The decoder is autoregressive (a GRU conditioned on z at every step), so a generated caption is
one consistent sentence rather than a mix of templates; the encoder is a small 1-D convolution
over token embeddings with masked max-pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synesthesia.config import Section
from synesthesia.errors import shown
from synesthesia.io import write_text_atomic
from synesthesia.limits import exceeded, get_limits
from synesthesia.modalities.base import Modality, ModalityError
from synesthesia.modalities.likelihoods import categorical_log_prob
from synesthesia.modalities.media import Notes, batch_notes, check_file
from synesthesia.modalities.text_tokenizer import (
    BOS,
    EOS,
    PAD,
    PUNCTUATION,
    SPECIAL_TOKENS,
    TOKENIZERS,
    UNK,
    UNWRITTEN,
    decode_ids,
    train_tokenizer,
    words,
)

TOKENIZER_FILE = "tokenizer.json"
MAX_LEN_CAP = 64                     # the default max_len: the longest training caption + 1, at most this


def check_caption(text: Any, what: str = "text") -> str:
    """A caption or prompt as given: a non-empty string of at most ``limits.text_chars``."""
    if not isinstance(text, str):
        raise ModalityError(f"{what} must be a string; got {type(text).__name__}")
    if len(text) > get_limits().text_chars:
        raise exceeded(f"{what} {shown(text, 60)}", len(text), "text_chars", " characters")
    if not text.strip():
        raise ModalityError(f"{what} is empty; give a caption such as 'a big red star'")
    return text


def read_caption(path: str | Path) -> str:
    """A UTF-8 caption file, its size checked before it is read (4 bytes per character at most)."""
    path, _ = check_file(path, "text")
    size = path.stat().st_size
    if size > 4 * get_limits().text_chars:
        raise exceeded(f"text file {path}", size // 4, "text_chars", " characters or more")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ModalityError(f"text file {path} is not UTF-8 (byte {err.start}: "
                            f"{err.object[err.start:err.start + 4]!r}); save it as UTF-8") from None
    return check_caption(text.strip(), f"text file {path}")


# ---------------------------------------------------------------------------------------------
# networks


class TextEncoder(nn.Module):
    """ids (B, L) -> features (B, feature_dim): embeddings, two 1-D convolutions, masked max."""

    def __init__(self, vocab_size: int, feature_dim: int, embed: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=PAD)
        self.conv1 = nn.Conv1d(embed, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.act = nn.SiLU()
        self.head = nn.Linear(hidden, feature_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids).transpose(1, 2)                 # (B, E, L)
        h = self.act(self.conv1(h))
        h = self.act(self.conv2(h) + h)                     # (B, H, L)
        h = h.masked_fill((ids == PAD)[:, None, :], -1e4)
        return self.head(h.max(dim=2).values)               # (B, feature_dim)


class TextDecoder(nn.Module):
    """z (B, Z) -> token logits (B, L, V) by a GRU; z sets the initial state and is added to
    every input embedding. ``forward`` uses teacher forcing; ``generate`` decodes step by step."""

    def __init__(self, latent_dim: int, vocab_size: int, max_len: int, embed: int = 128,
                 hidden: int = 256) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=PAD)
        self.cond = nn.Linear(latent_dim, embed)
        self.init = nn.Linear(latent_dim, hidden)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        bos = torch.full_like(ids[:, :1], BOS)
        inputs = torch.cat([bos, ids[:, :-1]], dim=1)                   # (B, L) shifted right
        e = self.embed(inputs) + self.cond(z)[:, None, :]               # (B, L, E)
        h0 = torch.tanh(self.init(z))[None]                             # (1, B, H)
        out, _ = self.gru(e, h0)                                        # (B, L, H)
        return self.out(out)                                            # (B, L, V)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, generator: torch.Generator | None = None,
                 temperature: float = 0.0) -> torch.Tensor:
        """Token ids (B, max_len): greedy when ``temperature`` is 0, else sampled; never PAD, UNK
        or BOS. At most ``max_len - 1`` words, then EOS, as in the data (so outputs can be given
        back as input)."""
        b = len(z)
        cond = self.cond(z)                                             # (B, E)
        h = torch.tanh(self.init(z))[None]                              # (1, B, H)
        tok = torch.full((b, 1), BOS, dtype=torch.long, device=z.device)
        done = torch.zeros(b, dtype=torch.bool, device=z.device)
        out = torch.full((b, self.max_len), PAD, dtype=torch.long, device=z.device)
        for t in range(self.max_len - 1):
            o, h = self.gru(self.embed(tok) + cond[:, None, :], h)      # (B, 1, H)
            logits = self.out(o[:, 0])                                  # (B, V)
            logits[:, UNWRITTEN] = -float("inf")
            if temperature > 0:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            else:
                nxt = logits.argmax(-1)
            nxt = nxt.masked_fill(done, PAD)
            out[:, t] = nxt
            done |= nxt == EOS
            if bool(done.all()):
                break
            tok = nxt[:, None]
        out[~done, self.max_len - 1] = EOS
        return out


# ---------------------------------------------------------------------------------------------
# the modality


@dataclass
class TextConfig(Section):
    max_len: int | None = None         # tokens per caption including EOS (default: the longest training caption + 1, at most 64)
    feature_dim: int = 256             # encoder output features
    embed: int = 128                   # token embedding width of the default networks
    hidden: int = 256                  # hidden width of the default encoder and GRU decoder
    weight: float | None = None        # likelihood weight (default: counts as much as a 32x32 RGB image)
    temperature: float = 0.0           # sampling temperature of generated captions (0: greedy)
    tokenizer: str | None = None       # word (closed vocabulary) or bpe (byte-level subwords); default: word on the world, bpe on files
    vocab_size: int | None = None      # bpe: the vocabulary's size (default 4096)


class TextModality(Modality):
    """Captions with an autoregressive categorical likelihood over tokens."""

    name = "text"
    autoregressive = True

    Config = TextConfig
    # the config's tokenizer (its kind) and vocab_size are kept as .kind and .target_vocab; .tokenizer
    # is the trained tokenizers.Tokenizer
    option_attributes = {"tokenizer": "kind", "vocab_size": "target_vocab"}

    def __init__(self, backend=None, **options: Any) -> None:
        given = options.get("tokenizer")
        if given is None:
            options["tokenizer"] = "word"
        elif not isinstance(given, str):     # a trained tokenizers.Tokenizer given directly
            backend = given
            options["tokenizer"] = "bpe" if type(given.model).__name__ == "BPE" else "word"
        self.backend = backend
        super().__init__(**options)

    def setup(self) -> None:
        self.max_len = 24 if self.max_len is None else self.max_len
        if self.kind not in TOKENIZERS:
            raise ModalityError(f"text tokenizer must be one of {', '.join(TOKENIZERS)}; got {self.kind!r}")
        if self.max_len < 2:
            raise ModalityError(f"text max_len must be at least 2 (a token and EOS); got {self.max_len}")
        if self.target_vocab is not None and self.target_vocab <= len(SPECIAL_TOKENS):
            raise ModalityError(f"text vocab_size must exceed {len(SPECIAL_TOKENS)}; got {self.target_vocab}")

    @classmethod
    def from_captions(cls, captions: Sequence[str], extra_words: Sequence[str] = (),
                      **config) -> TextModality:
        """Train a tokenizer on ``captions`` (plus ``extra_words``, e.g. a known vocabulary that
        the sample of captions may miss); ``max_len`` defaults to the longest caption + 1 token,
        at most ``MAX_LEN_CAP``."""
        if not captions:
            raise ModalityError("no captions to train the tokenizer on")
        kind = config.get("tokenizer", "word")
        if kind not in TOKENIZERS:
            raise ModalityError(f"text tokenizer must be one of {', '.join(TOKENIZERS)}; got {kind!r}")
        tok = train_tokenizer(list(captions) + list(extra_words), kind, config.get("vocab_size"))
        longest = max(len(e.ids) for e in tok.encode_batch(list(captions)))
        config.setdefault("max_len", min(longest + 1, MAX_LEN_CAP))
        return cls(backend=tok, **config)

    # -- vocabulary --------------------------------------------------------------------------
    @property
    def tokenizer(self):
        """The trained ``tokenizers.Tokenizer`` (None before training or loading); its kind
        (``word`` or ``bpe``) is :attr:`kind`."""
        return self.backend

    @tokenizer.setter
    def tokenizer(self, value) -> None:
        self.backend = value

    def _tok(self):
        if self.backend is None:
            raise ModalityError("the text modality has no tokenizer: build it with "
                                "TextModality.from_captions(...) or load it from a run folder")
        return self.backend

    @property
    def vocab_size(self) -> int:
        """Tokens in the trained vocabulary, special tokens included."""
        return self._tok().get_vocab_size()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.max_len,)

    # -- codec -------------------------------------------------------------------------------
    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        """Prompts -> ids (B, max_len); too long or (word-level) unknown words are errors."""
        return self._encode(raws, None)

    def encode_data(self, raws: Sequence[Any]) -> torch.Tensor:
        """Training captions -> ids: a caption over ``max_len - 1`` tokens is cut, with one
        warning per batch."""
        with batch_notes("caption", len(raws)) as notes:
            return self._encode(raws, notes)

    def _encode(self, raws: Sequence[Any], notes: Notes | None) -> torch.Tensor:
        tok = self._tok()
        texts = [check_caption(r) for r in raws]
        out = torch.full((len(texts), self.max_len), PAD, dtype=torch.long)
        for i, (text, enc) in enumerate(zip(texts, tok.encode_batch(texts))):
            ids = enc.ids
            unknown = [text[a:b] for tid, (a, b) in zip(ids, enc.offsets) if tid == UNK]
            if unknown:
                words = list(dict.fromkeys(unknown))
                named = ", ".join(shown(w, 24) for w in words[:5])
                named += f" and {len(words) - 5} more" if len(words) > 5 else ""
                raise ModalityError(f"word(s) {named} in "
                                    f"{shown(text)} are not in this model's vocabulary of "
                                    f"{self.vocab_size - len(SPECIAL_TOKENS)} words; rephrase with "
                                    "known words (see assets/tokenizer.json in the run folder)")
            if notes is not None and len(ids) > self.max_len - 1:
                notes.next_item()
                notes.add(f"cut to {self.max_len - 1} tokens (text max_len {self.max_len})", f"{len(ids)} tokens")
                ids = ids[:self.max_len - 1]
            elif len(ids) > self.max_len - 1:
                raise ModalityError(f"{shown(text)} has {len(ids)} tokens; this model reads at most "
                                    f"{self.max_len - 1} (text max_len {self.max_len}); shorten it")
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            out[i, len(ids)] = EOS
        return out

    def decode(self, x: torch.Tensor) -> list[str]:
        tok = self._tok()
        texts = []
        for row in x.long().tolist():
            ids = []
            for t in row:
                if t in (EOS, PAD):
                    break
                ids.append(t)
            texts.append(decode_ids(tok, self.kind, ids))
        return texts

    def word_sets(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W) bool: which words each caption of ids ``x`` (B, L) holds, over a vocabulary of
        W words (the tokenizer's for ``word``; the batch's own for ``bpe``, whose tokens are
        pieces of words). Special tokens are not words."""
        ids = x.long()
        if self.kind == "word":
            present = torch.zeros(len(ids), self.vocab_size, dtype=torch.bool, device=ids.device)
            present.scatter_(1, ids, True)
            present[:, [PAD, UNK, BOS, EOS]] = False
            return present
        rows = [set(words(t)) for t in self.decode(ids.cpu())]
        vocab = {w: k for k, w in enumerate(sorted(set().union(*rows)))}
        present = torch.zeros(len(ids), max(1, len(vocab)), dtype=torch.bool)
        for i, row in enumerate(rows):
            present[i, [vocab[w] for w in row]] = True
        return present.to(ids.device)
    # -- networks ----------------------------------------------------------------------------
    def build_encoder(self) -> nn.Module:
        return TextEncoder(self.vocab_size, self.feature_dim, self.embed, self.hidden)

    def build_decoder(self, latent_dim: int) -> nn.Module:
        return TextDecoder(latent_dim, self.vocab_size, self.max_len, self.embed, self.hidden)

    def log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return categorical_log_prob(params, x.long(), PAD)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return params.argmax(-1)

    def draw(self, decoder: nn.Module, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return decoder.generate(z, generator=generator, temperature=self.temperature)

    # -- files and persistence ---------------------------------------------------------------
    def read(self, path: str | Path) -> str:
        """A caption file: UTF-8 text of at most ``limits.text_chars`` characters (the file's size
        is checked before it is read)."""
        return read_caption(path)

    def write(self, raw: str, path: str | Path) -> Path:
        return write_text_atomic(path, raw + "\n")


    def save_assets(self, folder: Path) -> None:
        write_text_atomic(Path(folder) / TOKENIZER_FILE, self._tok().to_str())

    def load_assets(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        path = Path(folder) / TOKENIZER_FILE
        if not path.is_file():
            raise ModalityError(f"{path} is missing: the run folder is incomplete")
        try:
            self.backend = Tokenizer.from_str(path.read_text(encoding="utf-8"))
        except Exception as err:                 # the tokenizers library raises its own Exception
            raise ModalityError(f"{path} is not a tokenizer file this version reads: {err}") from None


__all__ = ["BOS", "EOS", "PAD", "PUNCTUATION", "SPECIAL_TOKENS", "TOKENIZER_FILE", "UNK", "UNWRITTEN",
           "TextDecoder", "TextEncoder", "TextModality", "check_caption", "read_caption"]
