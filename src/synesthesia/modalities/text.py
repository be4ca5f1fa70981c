"""Text: captions as word-token ids ``(L,)`` from a ``tokenizers`` word-level tokenizer.

The tokenizer is trained on the training captions (lower-cased; words split on white space,
punctuation split off) and saved with the run as ``assets/tokenizer.json``. A stored caption is
``[w_1 .. w_n, EOS, PAD ...]`` of length ``max_len``. Input policy: empty text, words outside the
vocabulary (named in the error) and captions longer than ``max_len - 1`` words are errors.

The decoder is autoregressive (a GRU conditioned on z at every step), so a generated caption is
one consistent sentence rather than a mix of templates; the encoder is a small 1-D convolution
over word embeddings with masked max-pooling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from synesthesia.config import Section
from synesthesia.errors import shown
from synesthesia.io import write_text_atomic
from synesthesia.modalities.base import Modality, ModalityError
from synesthesia.modalities.likelihoods import categorical_log_prob

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
UNWRITTEN = [PAD, UNK, BOS]          # tokens a text decoder never emits
PUNCTUATION = ". , ; : ! ?"
TOKENIZER_FILE = "tokenizer.json"
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


def new_tokenizer():
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(r"[,.;:!?]"), behavior="isolated"),
    ])
    return tok


def train_tokenizer(captions: Sequence[str]):
    from tokenizers import trainers

    tok = new_tokenizer()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1,
                                        show_progress=False)
    tok.train_from_iterator(list(captions) + [PUNCTUATION], trainer)
    for i, t in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(t) != i:
            raise RuntimeError(f"special token {t} did not get id {i}")
    return tok


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
    max_len: int | None = None         # tokens per caption including EOS (default: the longest training caption + 1)
    feature_dim: int = 256             # encoder output features
    embed: int = 128                   # word embedding width of the default networks
    hidden: int = 256                  # hidden width of the default encoder and GRU decoder
    weight: float | None = None        # likelihood weight (default: counts as much as a 32x32 RGB image)
    temperature: float = 0.0           # sampling temperature of generated captions (0: greedy)


class TextModality(Modality):
    """Captions with an autoregressive categorical likelihood over word tokens."""

    name = "text"
    Config = TextConfig
    autoregressive = True

    def __init__(self, tokenizer=None, **options) -> None:
        super().__init__(**options)
        self.tokenizer = tokenizer

    def setup(self) -> None:
        self.max_len = 24 if self.max_len is None else self.max_len
        if self.max_len < 2:
            raise ModalityError(f"text max_len must be at least 2 (a word and EOS); got {self.max_len}")

    @classmethod
    def from_captions(cls, captions: Sequence[str], extra_words: Sequence[str] = (),
                      **config) -> "TextModality":
        """Train a tokenizer on ``captions`` (plus ``extra_words``, e.g. a known vocabulary that
        the sample of captions may miss); ``max_len`` defaults to the longest caption + 1."""
        if not captions:
            raise ModalityError("no captions to train the tokenizer on")
        tok = train_tokenizer(list(captions) + list(extra_words))
        longest = max(len(e.ids) for e in tok.encode_batch(list(captions)))
        config.setdefault("max_len", longest + 1)
        return cls(tokenizer=tok, **config)

    # -- vocabulary --------------------------------------------------------------------------
    def _tok(self):
        if self.tokenizer is None:
            raise ModalityError("the text modality has no tokenizer: build it with "
                                "TextModality.from_captions(...) or load it from a run folder")
        return self.tokenizer

    @property
    def vocab_size(self) -> int:
        return self._tok().get_vocab_size()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.max_len,)

    # -- codec -------------------------------------------------------------------------------
    def encode(self, raws: Sequence[Any]) -> torch.Tensor:
        tok = self._tok()
        for r in raws:
            if not isinstance(r, str):
                raise ModalityError(f"text must be a string; got {type(r).__name__}")
            if not r.strip():
                raise ModalityError("text is empty; give a caption such as 'a big red star'")
        out = torch.full((len(raws), self.max_len), PAD, dtype=torch.long)
        for i, (text, enc) in enumerate(zip(raws, tok.encode_batch(list(raws)))):
            unknown = [text[a:b] for tid, (a, b) in zip(enc.ids, enc.offsets) if tid == UNK]
            if unknown:
                words = list(dict.fromkeys(unknown))
                named = ", ".join(shown(w, 24) for w in words[:5])
                named += f" and {len(words) - 5} more" if len(words) > 5 else ""
                raise ModalityError(f"word(s) {named} in "
                                    f"{shown(text)} are not in this model's vocabulary of "
                                    f"{self.vocab_size - len(SPECIAL_TOKENS)} words; rephrase with "
                                    "known words (see assets/tokenizer.json in the run folder)")
            if len(enc.ids) > self.max_len - 1:
                raise ModalityError(f"{shown(text)} has {len(enc.ids)} tokens; this model reads at most "
                                    f"{self.max_len - 1}")
            out[i, :len(enc.ids)] = torch.tensor(enc.ids)
            out[i, len(enc.ids)] = EOS
        return out

    def decode(self, x: torch.Tensor) -> list[str]:
        tok = self._tok()
        texts = []
        for row in x.long().tolist():
            words = []
            for t in row:
                if t in (EOS, PAD):
                    break
                words.append(t)
            texts.append(_SPACE_BEFORE_PUNCT.sub(r"\1", tok.decode(words)))
        return texts

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
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"text file {path} does not exist")
        return path.read_text(encoding="utf-8").strip()

    def write(self, raw: str, path: str | Path) -> Path:
        return write_text_atomic(path, raw + "\n")

    def save_assets(self, folder: Path) -> None:
        write_text_atomic(Path(folder) / TOKENIZER_FILE, self._tok().to_str())

    def load_assets(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        path = Path(folder) / TOKENIZER_FILE
        if not path.is_file():
            raise ModalityError(f"{path} is missing: the run folder is incomplete")
        self.tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
