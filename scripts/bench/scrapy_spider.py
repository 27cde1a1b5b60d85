"""Minimal Scrapy spider for the politecrawl benchmark suite (scripts/bench/suite.py).

It does what the other crawlers in the suite do and nothing more: start from the given URLs,
follow every <a>/<area> link that stays on the origin (scheme, host and port) of the page it was
found on, and keep only counters (pages, HTTP status) that it writes as one small JSON object when
the spider closes. No items, no feed, no body kept.

    python3 -m scrapy runspider scripts/bench/scrapy_spider.py \
        -a start_urls=http://127.0.0.1:8000/,http://127.0.0.2:8000/ -a stats=/tmp/stats.json \
        -s CONCURRENT_REQUESTS=64 -s CONCURRENT_REQUESTS_PER_DOMAIN=64 -s DOWNLOAD_DELAY=0

Settings given with -s override the defaults below (the suite always passes all of them).
Duplicate URLs are dropped by Scrapy's own duplicate filter (request fingerprints ignore
fragments; the seeds go through it too), robots.txt is obeyed through ROBOTSTXT_OBEY. The
suite turns the random jitter of DOWNLOAD_DELAY off with DOWNLOAD_DELAY_JITTER=0 (Scrapy >= 2.14
deprecates RANDOMIZE_DOWNLOAD_DELAY) or RANDOMIZE_DOWNLOAD_DELAY=False on older versions.
"""

import json
import time
from urllib.parse import urlsplit

import scrapy
from scrapy.linkextractors import LinkExtractor


class BenchSpider(scrapy.Spider):
    name = "politecrawl-bench"
    custom_settings = {
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": 64,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }

    def __init__(self, start_urls="", stats="", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [u for u in start_urls.split(",") if u]
        if not self.start_urls:
            raise ValueError("give the seeds with -a start_urls=URL1,URL2,...")
        self.stats_path = stats
        self.links = LinkExtractor(tags=("a", "area"), attrs=("href",), unique=True)
        self.pages = 0
        self.by_status = {}
        self.t0 = time.time()

    # Seeds go through the duplicate filter like every other request (Scrapy's default start
    # requests are dont_filter=True, which would fetch "/" a second time when a page links to it).
    async def start(self):  # Scrapy >= 2.13
        for r in self.start_requests():
            yield r

    def start_requests(self):  # Scrapy < 2.13
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response):
        self.pages += 1
        key = str(response.status)
        self.by_status[key] = self.by_status.get(key, 0) + 1
        here = urlsplit(response.url).netloc
        for link in self.links.extract_links(response):
            if urlsplit(link.url).netloc == here:  # in-origin links only
                yield scrapy.Request(link.url, callback=self.parse)

    def closed(self, reason):
        if not self.stats_path:
            return
        stats = self.crawler.stats.get_stats() if self.crawler and self.crawler.stats else {}
        out = {
            "reason": reason,
            "pages_parsed": self.pages,
            "by_status": self.by_status,
            "seconds": round(time.time() - self.t0, 3),
            "scrapy_stats": {
                k: v for k, v in stats.items()
                if isinstance(v, (int, float, str)) and not k.startswith("log_count/")
            },
        }
        with open(self.stats_path, "w") as f:
            json.dump(out, f, default=str)
