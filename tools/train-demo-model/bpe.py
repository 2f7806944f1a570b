"""A small byte-level BPE trainer and encoder that writes an HF tokenizer.json.

The layout follows GPT-2 / HF `tokenizers`: text is cut into words by the GPT-2 regex, each
word's UTF-8 bytes are written in GPT-2's printable byte alphabet, and merges are learned by
pair frequency. Ids: the ChatML specials first (0..2), then the 256 bytes, then the merges.

The word regex here is GPT-2's with ASCII classes (`re` has no \\p{L}); the corpus is ASCII,
where both agree. radixlm's tokenizer (the engine's side) uses the real Unicode pattern.
"""
import collections
import json
import re

from data import SPECIALS

WORD_RE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


def byte_to_unicode():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


B2U = byte_to_unicode()


def word_symbols(word):
    return tuple(B2U[b] for b in word.encode("utf-8"))


def count_words(docs):
    counts = collections.Counter()
    for d in docs:
        for piece in SPECIAL_RE.split(d):
            if piece in SPECIALS or not piece:
                continue
            counts.update(WORD_RE.findall(piece))
    return counts


def train(docs, vocab_size):
    """Learns merges until the vocabulary has `vocab_size` entries or no pair repeats."""
    counts = count_words(docs)
    words = [list(word_symbols(w)) for w in counts]
    freqs = list(counts.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freqs[i]
            where[(a, b)].add(i)
    merges = []
    room = vocab_size - len(SPECIALS) - 256
    while len(merges) < room and pairs:
        best, n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if n < 2:
            break
        merges.append(best)
        a, b = best
        merged = a + b
        for i in list(where[best]):
            w = words[i]
            f = freqs[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= f
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
            j, out = 0, []
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pairs[(x, y)] += f
                where[(x, y)].add(i)
        del where[best]
    return merges


class Encoder:
    def __init__(self, merges):
        self.vocab = {s: i for i, s in enumerate(SPECIALS)}
        for b in range(256):
            self.vocab[B2U[b]] = len(SPECIALS) + b
        for a, b in merges:
            self.vocab.setdefault(a + b, len(self.vocab))
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.merges = merges
        self.cache = {}

    def word(self, w):
        hit = self.cache.get(w)
        if hit is not None:
            return hit
        syms = list(word_symbols(w))
        while len(syms) > 1:
            best, rank = None, None
            for k in range(len(syms) - 1):
                r = self.ranks.get((syms[k], syms[k + 1]))
                if r is not None and (rank is None or r < rank):
                    best, rank = k, r
            if best is None:
                break
            syms[best:best + 2] = [syms[best] + syms[best + 1]]
        ids = [self.vocab[s] for s in syms]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for piece in SPECIAL_RE.split(text):
            if not piece:
                continue
            if piece in SPECIALS:
                out.append(self.vocab[piece])
                continue
            for w in WORD_RE.findall(piece):
                out.extend(self.word(w))
        return out

    def tokenizer_json(self):
        added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
        vocab = {s: i for s, i in self.vocab.items() if s not in SPECIALS}
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        return {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": [[a, b] for a, b in self.merges]},
        }


CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def tokenizer_config():
    return {
        "add_bos_token": False, "add_eos_token": False, "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "unk_token": None, "model_max_length": 512,
        "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
        "chat_template": CHATML_TEMPLATE,
    }


def save(enc, folder):
    with open(f"{folder}/tokenizer.json", "w") as f:
        json.dump(enc.tokenizer_json(), f, ensure_ascii=False)
    with open(f"{folder}/tokenizer_config.json", "w") as f:
        json.dump(tokenizer_config(), f, indent=2)
