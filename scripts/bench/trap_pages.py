"""The trap site's pages (scripts/bench/trapsite.py serves them and counts the requests): 296
real pages inside the URL spaces that waste crawlers' requests on real sites.

Real pages (ids in parentheses): / (home), /about, /contact; /docs/ (docs), /docs/a/ .. /docs/e/
(docs/a), /docs/a/1.html .. 8.html (docs/a/1); /blog/ (blog), /blog/post-1 .. 40 (blog/post-1);
/shop (shop), /list?page=1 .. 20 (list/1), /shop/item/1 .. 120 (item/1); /forum/ (forum),
/forum/thread/1 .. 20; /kb/ (kb), /kb/article-1 .. 15; /events, /events?month=2026-11 .. 2027-01
(month/2026-11), the 12 days with an event, /cal/2026/11/06/ (day/2026-11-06) and so on,
/events/e/1 .. 12 (event/1). A page's id is what its URL means once these are taken away: path
parameters (;jsessionid=), the session parameters sid, PHPSESSID and jsessionid, print and
share, utm_*, gclid and fbclid, the fragment, the order of the query parameters, and any other
parameter a real page does not read (the site ignores them, as real sites do). resolve(target)
gives the Page: its id (None for a pure trap), its trap kind (None for a real page's URL).

The URL spaces, as real sites make them:
  session IDs      every link of the shop carries ;jsessionid=, the forum's ?sid= or
                   ?PHPSESSID=, a new value in every response (a server rewriting URLs for a
                   client without cookies); no cookie is ever set
  print/share      docs pages link ?print=1, blog posts ?share=twitter (as WordPress plugins
                   do), about and contact one each: the body is byte-identical to the page's own
  tracking         blog posts and docs link posts with utm_*, gclid or fbclid
  parameter order  the home page links /list?page=1&sort=new, the pager ?sort=new&page=N
  fragments        #top, #install, #intro, #team, #today on links
  repeated segments  docs link "docs/a/" relatively: /docs/a/docs/a/docs/a/... answers the
                   real page's body, forever (trap)
  calendar         /events?month=YYYY-MM links the month before and after and its days with
                   events, /cal/YYYY/MM/DD/ the day before and after: years 1 to 9999 (trap,
                   except the 3 months and 12 days with events)
  facets           /shop?color=&size=&sort=&page= links every change of its facets, parameters
                   in an order that depends on the page (trap)
  soft 404         any other path under /kb/ answers 200 with five more such links (trap)
  empty pagination /list?page=21 and on: 200, no items, a next link (trap)
  not found        anything else: 404 (trap)
"""

import datetime
import hashlib
import html
import itertools
import re
from urllib.parse import parse_qsl

SECTIONS, DOC_PAGES, BLOG_POSTS = "abcde", 8, 40
LIST_PAGES, PER_LIST = 20, 6
ITEMS = LIST_PAGES * PER_LIST
THREADS, KB_ARTICLES = 20, 15
EVENT_MONTHS, EVENT_DAYS = ("2026-11", "2026-12", "2027-01"), (6, 7, 19, 20)
EVENTS = {i + 1: f"{m}-{d:02d}" for i, (m, d) in enumerate(itertools.product(EVENT_MONTHS, EVENT_DAYS))}
COLORS, SIZES = ("red", "blue", "green", "black", "white", "grey"), ("xs", "s", "m", "l", "xl")
SORTS = ("price", "new", "name", "rating")
SESSION_KEYS, VARIANT_KEYS = ("jsessionid", "sid", "phpsessid"), ("print", "share")
TRACKING_RE = re.compile(r"^(utm_[a-z]+|gclid|fbclid)$")
TRAP_KINDS = ("calendar", "facets", "repeated_segments", "soft404", "empty_pagination", "not_found")
WORDS = ("crawl polite request budget page link server queue origin archive index robots "
         "session calendar filter sort print share track digest fetch store export resume "
         "host rate delay frontier seed scope depth limit retry error record body header").split()
DOCS_RE = re.compile(r"^/docs/((?:[a-e]/docs/)*)([a-e])/(?:(\d+)\.html)?$")


def real_pages():
    ids = ["home", "about", "contact", "docs", "blog", "shop", "forum", "kb", "events"]
    ids += [f"docs/{s}" for s in SECTIONS] + [f"docs/{s}/{n}" for s in SECTIONS for n in range(1, DOC_PAGES + 1)]
    ids += [f"blog/post-{n}" for n in range(1, BLOG_POSTS + 1)]
    ids += [f"list/{n}" for n in range(1, LIST_PAGES + 1)] + [f"item/{n}" for n in range(1, ITEMS + 1)]
    ids += [f"forum/thread/{n}" for n in range(1, THREADS + 1)] + [f"kb/article-{n}" for n in range(1, KB_ARTICLES + 1)]
    ids += [f"month/{m}" for m in EVENT_MONTHS] + [f"day/{d}" for d in EVENTS.values()] + [f"event/{n}" for n in EVENTS]
    return ids


REAL = real_pages()


class Page:
    """What a URL answers: the real page it shows (id, None for a pure trap), its trap kind (None
    for a real page's URL), the status, and what the body holds."""

    def __init__(self, id, title, links, trap=None, status=200, canonical=None):
        self.id, self.title, self.links, self.trap = id, title, links, trap
        self.status, self.canonical = status, canonical

    def body(self):
        seed = hashlib.sha512((self.id or self.title).encode()).digest()
        text = " ".join(WORDS[b % len(WORDS)] for b in seed).capitalize() + "."
        canon = f'<link rel="canonical" href="{self.canonical}">' if self.canonical else ""
        items = "".join(f'<li><a href="{html.escape(h)}">{html.escape(label)}</a></li>\n' for h, label in self.links)
        return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"{canon}</head>\n<body><h1>{html.escape(self.title)}</h1>\n<p>{text}</p>\n<ul>\n{items}</ul></body></html>\n")


def hashed(*parts, n=8):
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:n]


def session(url, style, sid):
    """url as a server rewriting URLs for a client without cookies writes it."""
    path, _, q = url.partition("?")
    if style == "jsessionid":
        return f"{path};jsessionid={sid}" + (f"?{q}" if q else "")
    return f"{path}?" + (f"{q}&" if q else "") + f"{style}={sid}"


def not_found():
    return Page(None, "Not found", [("/", "Home")], trap="not_found", status=404)


# ------------------------------------------------------------------ the areas

STATIC = {
    "/": ("home", "Home", [
        ("/about#team", "About"), ("/contact", "Contact"), ("/docs/", "Docs"), ("/blog/", "Blog"),
        ("/blog/?utm_source=home&utm_campaign=winter", "Winter sale"), ("/shop", "Shop"),
        ("/list?page=1&sort=new", "New in"), ("/forum/", "Forum"), ("/kb/", "Help"),
        ("/events", "Events"), ("/cal/2026/12/07/#today", "Today")]),
    "/about": ("about", "About", [("/", "Home"), ("/contact", "Contact"), ("?print=1", "Print")]),
    "/contact": ("contact", "Contact", [("/", "Home"), ("/about", "About"), ("?share=mail", "Share")]),
}


def docs(m):
    """/docs/, /docs/S/, /docs/S/N.html; a repeated "S/docs/" prefix (the relative link
    "docs/S/" resolved against a page of section S) answers the same body."""
    if m is None:
        return Page("docs", "Documentation", [(f"{s}/", f"Section {s}") for s in SECTIONS] + [("/", "Home")],
                    canonical="/docs/")
    repeated, s, n = m.group(1), m.group(2), m.group(3)
    trap = "repeated_segments" if repeated else None
    if n is None:
        links = [(f"{k}.html", f"Page {k}") for k in range(1, DOC_PAGES + 1)]
        return Page(f"docs/{s}", f"Section {s}", links + [("/docs/", "Documentation"), (f"docs/{s}/", "Permalink")],
                    trap=trap, canonical=f"/docs/{s}/")
    n = int(n)
    if not 1 <= n <= DOC_PAGES:
        return not_found()
    nxt = SECTIONS[(SECTIONS.index(s) + 1) % len(SECTIONS)]
    links = [(f"{k}.html#top", f"Page {k}") for k in (n - 1, n + 1) if 1 <= k <= DOC_PAGES]
    post = (SECTIONS.index(s) * DOC_PAGES + n) % BLOG_POSTS + 1
    return Page(f"docs/{s}/{n}", f"Section {s}, page {n}", links + [
        (f"/docs/{s}/", f"Section {s}"), (f"docs/{s}/", "Permalink"), ("#install", "Install"), ("?print=1", "Print"),
        (f"/docs/{nxt}/1.html#intro", f"Section {nxt}"),
        (f"/blog/post-{post}?utm_source=docs&utm_medium=web", "From the blog")],
        trap=trap, canonical=f"/docs/{s}/{n}.html")


def blog(_q, _sid):
    return Page("blog", "Blog", [(f"/blog/post-{n}", f"Post {n}") for n in range(1, BLOG_POSTS + 1)] + [("/", "Home")],
                canonical="/blog/")


def blog_post(n):
    if not 1 <= n <= BLOG_POSTS:
        return not_found()
    post = lambda k: (n + k - 1) % BLOG_POSTS + 1  # noqa: E731
    links = [(f"/blog/post-{k}", f"Post {k}") for k in (n - 1, n + 1) if 1 <= k <= BLOG_POSTS]
    links += [(f"/blog/post-{post(k)}?utm_source=related&utm_medium=web&utm_campaign=post-{n}", "Related")
              for k in (3, 11, 17)]
    return Page(f"blog/post-{n}", f"Post {n}", links + [
        ("/blog/", "Blog"), (f"?utm_source=newsletter&utm_medium=email&utm_campaign=week-{n % 7}", "Newsletter"),
        (f"/blog/post-{post(5)}?gclid={hashed('g', n, n=20)}", "Sponsored"),
        (f"/blog/post-{post(23)}?fbclid={hashed('f', n, n=24)}", "Shared"),
        ("?share=twitter", "Tweet"),
        (f"/kb/article-{n % KB_ARTICLES + 1}", "Help")], canonical=f"/blog/post-{n}")


def item_facets(n):
    return COLORS[n % len(COLORS)], SIZES[n % len(SIZES)]


def shop_links(sid):
    return [(session("/shop", "jsessionid", sid), "Shop"), (session("/list?page=1&sort=new", "jsessionid", sid), "New in")]


def shop(q, sid, target):
    """/shop; with any parameter, a facet page (trap) linking every change of its facets."""
    if not q:
        items = [(session(f"/shop/item/{n}", "jsessionid", sid), f"Item {n}") for n in range(1, 7)]
        facets = [(session(f"/shop?color={v}", "jsessionid", sid), v) for v in COLORS]
        return Page("shop", "Shop", items + facets + shop_links(sid) + [("/", "Home")])
    want = {k: q.get(k) for k in ("color", "size") if q.get(k)}
    hits = [n for n in range(1, ITEMS + 1) if all(dict(zip(("color", "size"), item_facets(n)))[k] == v for k, v in want.items())]
    sort = q.get("sort", "new")
    hits.sort(key={"price": lambda n: hashed("p", n), "name": str, "rating": lambda n: hashed("r", n)}.get(sort, lambda n: -n))
    page = int(q["page"]) if q.get("page", "").isdigit() else 1
    shown = hits[(page - 1) * PER_LIST:page * PER_LIST]
    changes = [{**q, k: v, "page": None} for k, vs in (("color", COLORS), ("size", SIZES)) for v in vs if q.get(k) != v]
    changes += [{**q, k: None, "page": None} for k in ("color", "size") if q.get(k)]
    changes += [{**q, "sort": s} for s in SORTS if s != sort]
    changes += [{**q, "page": str(p)} for p in (page - 1, page + 1) if p >= 1 and (p - 1) * PER_LIST < len(hits)]
    links = [(session(f"/shop/item/{n}", "jsessionid", sid), f"Item {n}") for n in shown]
    for c in changes:
        pairs = sorted(((k, v) for k, v in c.items() if v), key=lambda kv: hashed(target, kv[0], sorted(c.items(), key=str)))
        query = "&".join(f"{k}={v}" for k, v in pairs)
        links.append((session("/shop" + (f"?{query}" if query else ""), "jsessionid", sid), query or "All"))
    return Page(None, "Shop: " + ", ".join(f"{k} {v}" for k, v in sorted(q.items())), links + shop_links(sid), trap="facets")


def list_page(q, sid):
    page = int(q["page"]) if q.get("page", "1").isdigit() else 0
    pager = lambda k: (session(f"/list?sort=new&page={k}", "jsessionid", sid), f"Page {k}")  # noqa: E731
    if 1 <= page <= LIST_PAGES:
        first = (page - 1) * PER_LIST
        links = [(session(f"/shop/item/{n}", "jsessionid", sid), f"Item {n}") for n in range(first + 1, first + PER_LIST + 1)]
        links += [pager(k) for k in range(max(1, page - 2), min(LIST_PAGES, page + 2) + 1) if k != page]
        return Page(f"list/{page}", f"New in, page {page}", links + [pager(page + 1)] + shop_links(sid))
    links = [pager(k) for k in (1, page - 1, page + 1) if k >= 1]
    return Page(None, f"New in, page {page}: no more items", links + shop_links(sid), trap="empty_pagination")


def item(n, sid):
    if not 1 <= n <= ITEMS:
        return not_found()
    color = item_facets(n)[0]
    links = [(session(f"/shop/item/{(n + k - 1) % ITEMS + 1}", "jsessionid", sid), "Related") for k in (1, 7, 31)]
    links += [(session(f"/list?sort=new&page={(n - 1) // PER_LIST + 1}", "jsessionid", sid), "Back to the list"),
              (session(f"/shop?color={color}", "jsessionid", sid), f"More in {color}")]
    return Page(f"item/{n}", f"Item {n}", links + shop_links(sid))


def forum(_q, sid):
    return Page("forum", "Forum", [(session(f"/forum/thread/{n}", "sid", sid), f"Thread {n}") for n in range(1, THREADS + 1)]
                + [("/", "Home")])


def thread(n, sid):
    if not 1 <= n <= THREADS:
        return not_found()
    links = [(session(f"/forum/thread/{(n + k - 1) % THREADS + 1}", "PHPSESSID", sid), "Thread") for k in (-1, 1, 5)]
    return Page(f"forum/thread/{n}", f"Thread {n}", links + [(session("/forum/", "PHPSESSID", sid), "Forum"), ("/", "Home")])


def kb(path):
    """/kb/, /kb/article-N; any other path under /kb/ answers 200 (a soft 404, trap)."""
    if path == "/kb/":
        links = [(f"/kb/article-{n}", f"Article {n}") for n in range(1, KB_ARTICLES + 1)]
        return Page("kb", "Help", links + [(f"/kb/search/{w}", w) for w in ("cookies", "robots", "export")] + [("/", "Home")])
    m = re.match(r"^/kb/article-(\d+)$", path)
    if m and 1 <= int(m.group(1)) <= KB_ARTICLES:
        n = int(m.group(1))
        links = [(f"/kb/article-{(n + k - 1) % KB_ARTICLES + 1}", "See also") for k in (1, 4)]
        links += [(f"/kb/old/article-{n}-legacy", "Older version")] if n % 5 == 0 else []
        return Page(f"kb/article-{n}", f"Article {n}", links + [("/kb/", "Help")])
    h = hashlib.sha1(path.encode()).digest()
    slug = lambda i: f"{WORDS[h[2 * i] % len(WORDS)]}-{WORDS[h[2 * i + 1] % len(WORDS)]}"  # noqa: E731
    links = [(f"/kb/{slug(i)}", "Try") for i in range(3)] + [(f"{slug(i)}/", "Try") for i in (3, 4)]
    return Page(None, f"Sorry, we could not find {path}", links + [("/kb/", "Help")], trap="soft404")


def month_page(q):
    m = re.match(r"^(\d{4})-(\d{2})$", q["month"])
    if not m or not 1 <= int(m.group(1)) <= 9999 or not 1 <= int(m.group(2)) <= 12:
        return not_found()
    y, mo = int(m.group(1)), int(m.group(2))
    key = f"{y:04d}-{mo:02d}"
    links = [(f"/events?month={yy:04d}-{mm:02d}", label) for yy, mm, label in
             ((y - (mo == 1), (mo - 2) % 12 + 1, "Previous month"), (y + (mo == 12), mo % 12 + 1, "Next month")) if 1 <= yy <= 9999]
    days = sorted((n, d) for n, d in EVENTS.items() if d.startswith(key))
    links += [(f"/cal/{d.replace('-', '/')}/", d) for _, d in days] + [(f"/events/e/{n}", f"Event {n}") for n, _ in days]
    real = key in EVENT_MONTHS
    return Page(f"month/{key}" if real else None, f"Events in {key}", links, trap=None if real else "calendar")


def day_page(y, mo, d):
    try:
        day = datetime.date(y, mo, d)
    except ValueError:
        return not_found()
    links = []
    for delta, label in ((-1, "Previous day"), (1, "Next day")):
        try:
            o = day + datetime.timedelta(days=delta)
            links.append((f"/cal/{o.year:04d}/{o.month:02d}/{o.day:02d}/", label))
        except OverflowError:
            pass
    key = day.isoformat()
    links += [(f"/events?month={key[:7]}", "Month")] + [(f"/events/e/{n}", f"Event {n}") for n, e in EVENTS.items() if e == key]
    real = key in EVENTS.values()
    return Page(f"day/{key}" if real else None, f"Events on {key}", links, trap=None if real else "calendar")


def events(q, _sid):
    if "month" in q:
        return month_page(q)
    return Page("events", "Events", [("/events?month=2026-12", "This month"), ("/cal/2026/12/07/", "Today")]
                + [(f"/events/e/{n}", f"Event {n}") for n in EVENTS] + [("/", "Home")])


def event(n):
    if n not in EVENTS:
        return not_found()
    day = EVENTS[n]
    return Page(f"event/{n}", f"Event {n}", [(f"/cal/{day.replace('-', '/')}/", day), (f"/events?month={day[:7]}", "Month"), ("/events", "Events")])


EXACT = {"/blog/": blog, "/forum/": forum, "/events": events, "/list": list_page}
NUMBERED = ((r"/blog/post-(\d+)", lambda n, sid: blog_post(n)), (r"/shop/item/(\d+)", item),
            (r"/forum/thread/(\d+)", thread), (r"/events/e/(\d+)", lambda n, sid: event(n)))


def resolve(target, sid):
    """The page a request target answers; sid is the session ID its links get."""
    path, _, query = target.split("#", 1)[0].partition("?")
    q = {k: v for k, v in parse_qsl(query, keep_blank_values=True)
         if k.lower() not in SESSION_KEYS + VARIANT_KEYS and not TRACKING_RE.match(k.lower())}
    return route(path.split(";", 1)[0], q, sid, target)


def route(path, q, sid, target):
    """The page a path (without path parameters) and its remaining query parameters answer."""
    if path in STATIC:
        return Page(*STATIC[path])
    if path in EXACT:
        return EXACT[path](q, sid)
    if path == "/shop":
        return shop(q, sid, target)
    if path.startswith("/docs/"):
        m = DOCS_RE.match(path)
        return docs(m) if m or path == "/docs/" else not_found()
    if path.startswith("/kb/"):
        return kb(path)
    m = re.match(r"^/cal/(\d{4})/(\d{2})/(\d{2})/$", path)
    if m:
        return day_page(*map(int, m.groups()))
    for pattern, fn in NUMBERED:
        m = re.match(f"^{pattern}$", path)
        if m:
            return fn(int(m.group(1)), sid)
    return not_found()
