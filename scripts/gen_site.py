#!/usr/bin/env python3
"""Generate a deterministic synthetic website for crawl benchmarks (python3 stdlib only).

Layout (N = --pages):
    OUT/index.html        page 0 (always reached as "/", never linked as "index.html")
    OUT/p/<i>.html        page i, 1 <= i < N

Every page is 10-30 KB (uniformly drawn per page; --kb changes the range) of realistic-looking HTML (head, header, nav, article with
headings and paragraphs of pseudo-text, aside, footer) and links to 20-60
distinct other pages of the site (plus the logo and footer "Home" links
to "/"). Page i always links to page i+1, so every
page is reachable from index.html; the rest of the links are random. Links mix
relative ("17.html", "./17.html", "../p/17.html", "p/17.html" from the root),
root-relative ("/p/17.html") and a few with fragments ("/p/17.html#s2"); all of
them normalise to exactly one URL per page, so a correct crawl of the site
stores exactly N URLs, all 200 text/html.

The output depends only on (--pages, --seed): the same arguments produce the
same bytes.

Usage:
    python3 scripts/gen_site.py --pages 20000 --out /tmp/site --seed 1
"""

import argparse
import os
import random
import sys

DEFAULT_KB = (10, 30)
MIN_LINKS, MAX_LINKS = 20, 60

SYLLABLES = (
    "ka ri to mo na se lu vi po da ne shi ta ro mi ku ze ba lo fe gu ha "
    "ja ke li ma nu or pe qua ra sa te ul va wo xe yo zu an el in on un "
    "bra cre dri fla glo pra stu tri vel mor dan sil ter gar hen"
).split()


def make_vocabulary(rng, size=4000):
    words = set()
    while len(words) < size:
        n = rng.choice((1, 2, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(SYLLABLES) for _ in range(n)))
    # Sorted, so the vocabulary does not depend on set iteration order.
    words = sorted(words)
    rng.shuffle(words)
    return words


def make_sentences(rng, vocab, count=3000):
    # A Zipf-ish pick: common words come up far more often, like real text.
    weights = [1.0 / (r + 1) for r in range(len(vocab))]
    out = []
    for _ in range(count):
        n = rng.randint(6, 22)
        words = rng.choices(vocab, weights=weights, k=n)
        s = " ".join(words)
        s = s[0].upper() + s[1:]
        if n > 10 and rng.random() < 0.4:
            # A comma somewhere in the middle.
            k = s.find(" ", len(s) // 2)
            if k > 0:
                s = s[:k] + "," + s[k:]
        out.append(s + rng.choice(".....?!"))
    return out


def href_to(target, from_root, rng):
    """One spelling of a link to page `target` from a page at "/" (from_root) or "/p/*"."""
    if target == 0:
        return rng.choice(("/", "/", "../")) if not from_root else "/"
    name = f"{target}.html"
    r = rng.random()
    if from_root:
        if r < 0.5:
            h = f"p/{name}"
        elif r < 0.6:
            h = f"./p/{name}"
        else:
            h = f"/p/{name}"
    else:
        if r < 0.35:
            h = name
        elif r < 0.45:
            h = f"./{name}"
        elif r < 0.55:
            h = f"../p/{name}"
        else:
            h = f"/p/{name}"
    if rng.random() < 0.05:
        h += f"#s{rng.randint(1, 6)}"
    return h


def page_title(i, vocab):
    # Deterministic title from the page number alone.
    a = vocab[(i * 7919) % len(vocab)]
    b = vocab[(i * 104729 + 13) % len(vocab)]
    return f"{a.capitalize()} {b}" if i else "Home"


def render_page(i, n, rng, vocab, sentences, kb=DEFAULT_KB):
    from_root = i == 0
    target_bytes = rng.randint(kb[0] * 1024, kb[1] * 1024)
    # Link targets: i+1 (reachability) plus random distinct others, never self.
    want = rng.randint(MIN_LINKS, MAX_LINKS)
    want = min(want, n - 1)
    targets = []
    seen = {i}
    if i + 1 < n:
        targets.append(i + 1)
        seen.add(i + 1)
    while len(targets) < want:
        t = rng.randrange(n)
        if t not in seen:
            seen.add(t)
            targets.append(t)
    # A handful go to the nav; the rest are spread over the body and the aside.
    nav_count = min(len(targets), rng.randint(4, 8))
    nav = targets[:nav_count]
    rest = targets[nav_count:]
    aside_count = len(rest) // 3
    aside = rest[:aside_count]
    inline = rest[aside_count:]
    rng.shuffle(inline)

    title = page_title(i, vocab)
    canonical = "/" if i == 0 else f"/p/{i}.html"
    home = "/" if (from_root or rng.random() < 0.5) else "../"
    parts = [
        "<!DOCTYPE html>\n",
        '<html lang="en">\n<head>\n',
        '<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{title} | Synthetic Bench Site</title>\n",
        f'<meta name="description" content="{sentences[(i * 31) % len(sentences)]}">\n',
        f'<link rel="canonical" href="{canonical}">\n',
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "nav a{margin-right:1em}.aside{float:right;width:16em}</style>\n",
        "</head>\n<body>\n",
        f'<header><a class="logo" href="{home}">Synthetic Bench Site</a></header>\n',
        '<nav class="main">\n',
    ]
    for t in nav:
        parts.append(f'  <a href="{href_to(t, from_root, rng)}">{page_title(t, vocab)}</a>\n')
    parts.append("</nav>\n")
    parts.append('<aside class="aside"><h3>Related</h3>\n<ul>\n')
    for t in aside:
        parts.append(f'  <li><a href="{href_to(t, from_root, rng)}">{page_title(t, vocab)}</a></li>\n')
    parts.append("</ul>\n</aside>\n")
    parts.append(f'<main>\n<article id="page-{i}">\n<h1>{title}</h1>\n')
    parts.append(f'<p class="meta">Page {i} of {n}. Updated 2024-{1 + i % 12:02d}-{1 + i % 28:02d}.</p>\n')

    # Body text: paragraphs until the page reaches ~target_bytes, with the inline links
    # spread over the paragraphs and a heading every few paragraphs.
    footer = (
        "</article>\n</main>\n"
        '<footer><p>&copy; 2024 Synthetic Bench Site. Generated for crawler benchmarks.</p>'
        f'<p><a href="{home}">Home</a></p></footer>\n'
        "</body>\n</html>\n"
    )
    size = sum(len(p) for p in parts) + len(footer)
    # Estimate paragraphs needed so the inline links spread across the whole page.
    avg_para = 600
    est_paras = max(1, (target_bytes - size) // avg_para)
    per_para = max(1, -(-len(inline) // est_paras)) if inline else 0
    section = 1
    para = 0
    li = 0
    while size < target_bytes or li < len(inline):
        if para % 4 == 0:
            h = f'<h2 id="s{section}">{sentences[rng.randrange(len(sentences))][:-1]}</h2>\n'
            parts.append(h)
            size += len(h)
            section += 1
        sents = [sentences[rng.randrange(len(sentences))] for _ in range(rng.randint(3, 7))]
        for _ in range(per_para):
            if li >= len(inline):
                break
            t = inline[li]
            li += 1
            k = rng.randrange(len(sents))
            sents[k] = (
                f'{sents[k][:-1]} (see <a href="{href_to(t, from_root, rng)}">'
                f"{page_title(t, vocab)}</a>){sents[k][-1]}"
            )
        p = "<p>" + " ".join(sents) + "</p>\n"
        parts.append(p)
        size += len(p)
        para += 1
    parts.append(footer)
    return "".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=20000, help="number of pages (default 20000)")
    ap.add_argument("--out", required=True, help="output directory (created; must be empty or absent)")
    ap.add_argument("--seed", type=int, default=1, help="PRNG seed (default 1)")
    ap.add_argument("--kb", default="10-30", help="page size range in KiB, MIN-MAX (default 10-30)")
    a = ap.parse_args(argv)
    if a.pages < 2:
        ap.error("--pages must be at least 2")
    try:
        kb = tuple(int(x) for x in a.kb.split("-"))
        if len(kb) != 2 or not 1 <= kb[0] <= kb[1]:
            raise ValueError
    except ValueError:
        ap.error(f"--kb must be MIN-MAX in KiB with 1 <= MIN <= MAX (got {a.kb!r})")
    if os.path.isdir(a.out) and os.listdir(a.out):
        ap.error(f"{a.out} exists and is not empty")

    base = random.Random(f"politecrawl-bench-{a.seed}")
    vocab = make_vocabulary(base)
    sentences = make_sentences(base, vocab)
    os.makedirs(os.path.join(a.out, "p"), exist_ok=True)
    total = 0
    for i in range(a.pages):
        # One generator per page: page i depends only on (seed, i, pages).
        rng = random.Random(f"{a.seed}:{a.pages}:{i}")
        html = render_page(i, a.pages, rng, vocab, sentences, kb).encode("utf-8")
        path = os.path.join(a.out, "index.html" if i == 0 else os.path.join("p", f"{i}.html"))
        with open(path, "wb") as f:
            f.write(html)
        total += len(html)
    print(a.pages)
    print(
        f"gen_site: wrote {a.pages} pages ({total / 1e6:.1f} MB, {total / a.pages / 1024:.1f} KiB/page) "
        f"to {a.out} (seed {a.seed})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
