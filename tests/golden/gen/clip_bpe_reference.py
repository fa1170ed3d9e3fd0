"""Our own re-statement of the CLIP BPE text tokenizer (spec §1.4.2) and the fixture generator
for tests/golden/fixtures/clip/clip_ids.json.

Run: /usr/bin/python3 tests/golden/gen/clip_bpe_reference.py <clip_bpe_simple_vocab_16e6.txt.gz>

Differences from the reference SimpleTokenizer, shared with the C++ port (data/clip_tokenizer.cpp):
- no ftfy (not installed here): cleaning is html-unescape twice, strip, collapse whitespace runs
  to one space, strip, lower-case;
- the pre-tokenisation pattern (contractions, letter runs, single digits, runs of other
  non-space symbols) is matched by hand with "letter" = Unicode general category L*, "number" =
  N*, "space" = the Unicode White_Space property (the `regex` module's \\p{L}, \\p{N}, \\s), so no
  third-party regex engine is needed.
It also writes data/clip_unicode_tables.inc: the L*/N* ranges and the lower-case map of this
Python's unicodedata, which the C++ port compiles in so both sides classify identically.
"""
import gzip
import html
import json
import os
import sys
import unicodedata

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
CONTEXT = 77
WHITE_SPACE = set([*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
                   0x2029, 0x202F, 0x205F, 0x3000])
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def byte_symbols():
    """GPT-2 bytes_to_unicode: printable bytes map to themselves, the others to 256+n in order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    order = keep + [b for b in range(256) if b not in keep]  # vocabulary order
    return table, [table[b] for b in order]


class Tokenizer:
    def __init__(self, path):
        lines = gzip.open(path).read().decode("utf-8").split("\n")
        self.merges = [tuple(l.split()) for l in lines[1:48894 + 1]]
        assert len(self.merges) == 48894
        self.byte_table, symbols = byte_symbols()
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in self.merges] + [SOT, EOT]
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        assert self.ids[SOT] == 49406 and self.ids[EOT] == 49407
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.cache = {SOT: [SOT], EOT: [EOT]}  # the special words map to their ids directly

    @staticmethod
    def clean(text):
        text = html.unescape(html.unescape(text)).strip()
        out, in_space = [], False
        for ch in text:
            if ord(ch) in WHITE_SPACE:
                if not in_space:
                    out.append(" ")
                in_space = True
            else:
                out.append(ch)
                in_space = False
        return "".join(out).strip().lower()

    @staticmethod
    def pretokenize(text):
        def kind(ch):
            if ord(ch) in WHITE_SPACE:
                return "s"
            c = unicodedata.category(ch)[0]
            return "l" if c == "L" else "n" if c == "N" else "o"

        words, i, n = [], 0, len(text)
        while i < n:
            matched = None
            for special in (SOT, EOT):
                if text.startswith(special, i):
                    matched = special
                    break
            if matched is None and text[i] == "'":
                for c in CONTRACTIONS:
                    if text.startswith(c, i):
                        matched = c
                        break
            if matched is not None:
                words.append(matched)
                i += len(matched)
                continue
            k = kind(text[i])
            if k == "s":
                i += 1
                continue
            if k == "n":
                words.append(text[i])
                i += 1
                continue
            j = i + 1
            while j < n and kind(text[j]) == k:
                j += 1
            words.append(text[i:j])
            i = j
        return words

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = set(zip(parts, parts[1:]))
            best = min(pairs, key=lambda p: self.rank.get(p, float("inf")))
            if best not in self.rank:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.cache[word] = parts
        return parts

    def encode(self, text):
        ids = []
        for word in self.pretokenize(self.clean(text)):
            symbols = "".join(self.byte_table[b] for b in word.encode("utf-8"))
            ids += [self.ids[p] for p in self.bpe(symbols)]
        return ids

    def tokenize(self, text, reference=False, context=CONTEXT):
        body = self.encode(text)
        if reference:  # ImageBind-LLM copy: append EOT, then cut (EOT lost for long texts)
            seq = ([self.ids[SOT]] + body + [self.ids[EOT]])[:context]
        else:  # upstream fix: keep room for EOT
            seq = ([self.ids[SOT]] + body)[:context - 1] + [self.ids[EOT]]
        return seq + [0] * (context - len(seq))


STRINGS = [
    "a dog.",
    "A photo of a CAT",
    "",
    "   ",
    "Hello, World!!",
    "it's they're we've I'm you'll he'd don't",
    "IT'S LOUD",
    "rock &amp; roll &amp;amp; jazz &lt;3",
    "tabs\tand\nnewlines   and  spaces",
    "numbers 12345 and 3.14 and 1,000",
    "e-mail: someone@example.com #hashtag $100 50%",
    "café naïve résumé Ünïcödé",
    "Straße İstanbul",
    "日本語のテキスト",
    "emoji 🐶🐱 test",
    "x² ½ Ⅻ ٣",
    "<|startoftext|> <|endoftext|>",
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "under_score and--dashes... and '' quotes 'quoted'",
    "non\u00a0breaking\u2003space",
    " ".join(["word"] * 100),
    "the quick brown fox jumps over the lazy dog " * 12,
]


def write_tables(path):
    def ranges(pred):
        out, start = [], None
        for cp in range(0x110000 + 1):
            ok = cp < 0x110000 and pred(cp)
            if ok and start is None:
                start = cp
            elif not ok and start is not None:
                out.append((start, cp - 1))
                start = None
        return out

    letters = ranges(lambda cp: unicodedata.category(chr(cp)).startswith("L"))
    numbers = ranges(lambda cp: unicodedata.category(chr(cp)).startswith("N"))
    lower = []
    for cp in range(0x110000):
        lo = chr(cp).lower()
        if len(lo) == 1 and ord(lo) != cp:
            lower.append((cp, ord(lo)))
    lines = ["// Generated by tests/golden/gen/clip_bpe_reference.py from Python's unicodedata "
             f"(Unicode {unicodedata.unidata_version}); do not edit.",
             "// Inclusive code point ranges of general categories L* and N*, and the single code",
             "// point lower-case map (str.lower(); U+0130 -> \"i\\u0307\" is special-cased in C++)."]
    for name, rs in (("kLetterRanges", letters), ("kNumberRanges", numbers)):
        lines.append(f"constexpr CodeRange {name}[] = {{")
        lines += ["  " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in rs[i:i + 6]) for i in range(0, len(rs), 6)]
        lines.append("};")
    lines.append("constexpr CodeRange kLowerMap[] = {")
    lines += ["  " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in lower[i:i + 6]) for i in range(0, len(lower), 6)]
    lines.append("};")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    vocab = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/assets/clip_bpe_simple_vocab_16e6.txt.gz"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    tok = Tokenizer(vocab)
    # Well-known CLIP ids (checked by hand against the vocabulary order): "a dog." ->
    # SOT, "a</w>" (320 = 256 + 'a'-'!'), "dog</w>", ".</w>", EOT.
    assert tok.tokenize("a dog.")[:5] == [49406, 320, 1929, 269, 49407], tok.tokenize("a dog.")[:6]
    cases = []
    for s in STRINGS:
        cases.append({"text": s, "clean": tok.clean(s), "words": tok.pretokenize(tok.clean(s)),
                      "ids": tok.tokenize(s), "ids_reference": tok.tokenize(s, reference=True)})
    out = os.path.join(root, "tests/golden/fixtures/clip/clip_ids.json")
    with open(out, "w") as f:
        json.dump({"context_length": CONTEXT, "cases": cases}, f, ensure_ascii=True, indent=1)
    write_tables(os.path.join(root, "data/clip_unicode_tables.inc"))
    print("wrote", out, len(cases), "cases")


if __name__ == "__main__":
    main()
