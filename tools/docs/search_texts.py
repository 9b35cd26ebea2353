"""Search excerpts that work offline: each page's article text, for the search page of a site opened from disk.

    python tools/docs/search_texts.py SITE_DIR

Sphinx's search shows an excerpt under each result by fetching the page; a browser refuses `fetch` on file:// URLs,
so a site opened from disk showed titles only. This writes `_static/search_texts.js` (page name -> article text);
`_static/search_offline.js` answers the search's failed fetches from it.
"""
import html, json, re, sys
from html.parser import HTMLParser
from pathlib import Path

class _Text(HTMLParser):
    "The text inside <article>, without scripts and styles (header links are removed before)."
    def __init__(self):
        super().__init__(); self.depth, self.skip, self.out = 0, 0, []
    def handle_starttag(self, tag, attrs):
        if tag == 'article': self.depth += 1
        if tag in ('script', 'style'): self.skip += 1
    def handle_endtag(self, tag):
        if tag == 'article': self.depth -= 1
        if tag in ("script", "style"): self.skip -= 1
    def handle_data(self, data):
        if self.depth and not self.skip: self.out.append(data)

def page_text(src:str, limit:int=30000)->str:
    src = re.sub(r'<a class="headerlink"[^>]*>.*?</a>', '', src, flags=re.S)
    p = _Text(); p.feed(src)
    return ' '.join(' '.join(p.out).split())[:limit]

def main(site:Path):
    texts = {}
    for f in sorted(site.rglob('*.html')):
        rel = f.relative_to(site)
        if rel.parts[0].startswith('_') or rel.name in ('search.html', 'genindex.html'): continue
        texts[str(rel.with_suffix(''))] = page_text(f.read_text(errors='replace'))
    (site/'_static'/'search_texts.js').write_text('window.EMTHEORY_SEARCH_TEXTS = ' + json.dumps(texts) + ';\n')
    print(f'docs build: offline search excerpts for {len(texts)} pages')

if __name__ == '__main__':
    main(Path(sys.argv[1]))
