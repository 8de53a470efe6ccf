"""Make an `asv publish` dashboard open with no internet: serve its CDN assets locally.

asv's index.html loads jQuery, flot (and plugins), stupidtable, blueimp-md5 and
Bootstrap from CDNs. This step copies the same versions from the npm packages
that package.json (next to this file) pins, installed by ``npm ci`` into
node_modules/ (run here when node_modules is missing or older than
package-lock.json), to ``HTML_DIR/vendor/<package>/...``, and points every such
``<script src>`` / ``<link href>`` at the copy (dropping the CDN's integrity
and crossorigin attributes, which name the CDN's bytes). A CDN URL it does not
know is an error, so an asv upgrade that adds one cannot go unnoticed; so is
any external URL left in a published page afterwards.

    python benchmarks/dashboard/offline.py HTML_DIR [--node-modules DIR]
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent

#: CDN URL in asv's www/index.html -> the same file (or its unminified source) in node_modules
ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        "flot/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        "flot/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        "flot/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        "flot-orderbars/js/jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        "stupid-table-plugin/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        "blueimp-md5/js/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        "bootstrap/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
}
#: folders copied whole, for the files an asset loads itself (Bootstrap's CSS: ../fonts/)
FOLDERS = ("bootstrap/dist/fonts",)

TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.I)
URL_ATTR = re.compile(r"""\b(src|href)=(["'])((?:https?:)?//[^"']+)\2""", re.I)
CDN_ONLY_ATTRS = re.compile(r"""\s+(?:integrity|crossorigin|referrerpolicy)(?:=(["'])[^"']*\1)?""", re.I)
#: what a page loads by itself: a script, stylesheet, icon, image or frame, or a CSS url()
#: (a link the reader may click, <a href>, loads nothing)
EXTERNAL = re.compile(r"""(?:<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=["']"""
                      r"""|url\(\s*["']?)((?:https?:)?//[^"')\s]+)""", re.I)


def external_urls(html_dir):
    """(file, URL) for every resource that html_dir's pages, scripts and styles load from another host."""
    found = []
    for path in sorted(pathlib.Path(html_dir).rglob("*")):
        if path.suffix in (".html", ".css", ".js") and path.is_file():
            for url in EXTERNAL.findall(path.read_text(encoding="utf-8", errors="replace")):
                found.append((str(path), url))
    return found


def localize_tag(tag, copy):
    """``tag`` with its CDN URL replaced by ``copy(url)`` (the local path) and the CDN attributes dropped."""
    m = URL_ATTR.search(tag)
    if m is None:
        return tag
    tag = tag[:m.start()] + f'{m.group(1)}="{copy(m.group(3))}"' + tag[m.end():]
    return CDN_ONLY_ATTRS.sub("", tag)


def install_packages(folder=HERE):
    """``npm ci`` in ``folder`` unless its node_modules is as new as its package-lock.json; returns node_modules."""
    folder = pathlib.Path(folder)
    installed = folder / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (folder / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                       check=True)
    return folder / "node_modules"


def localize(html_dir, node_modules):
    """Rewrite every page of ``html_dir`` to load its assets from ``html_dir/vendor``; returns the URLs replaced."""
    html_dir, node_modules = pathlib.Path(html_dir), pathlib.Path(node_modules)
    vendor = html_dir / "vendor"
    replaced = []

    def copy(url):
        if url not in ASSETS:
            raise KeyError(f"{url} is not in {__file__}'s ASSETS: add its npm package and file")
        src, dst = node_modules / ASSETS[url], vendor / ASSETS[url]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        replaced.append(url)
        return dst.relative_to(html_dir).as_posix()

    for folder in FOLDERS:
        shutil.copytree(node_modules / folder, vendor / folder, dirs_exist_ok=True)
    for page in html_dir.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        page.write_text(TAG.sub(lambda m: localize_tag(m.group(0), copy), text), encoding="utf-8")
    left = external_urls(html_dir)
    if left:
        raise RuntimeError("external URLs left after localizing: " +
                           ", ".join(f"{f}: {u}" for f, u in left))
    return replaced


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", help="the folder `asv publish` wrote (html_dir in asv.conf.json)")
    parser.add_argument("--node-modules", help="package.json's packages installed elsewhere "
                        "(default: npm ci next to this file)")
    args = parser.parse_args(argv)
    replaced = localize(args.html_dir, args.node_modules or install_packages())
    print(f"offline dashboard: {len(set(replaced))} CDN assets now served from "
          f"{pathlib.Path(args.html_dir) / 'vendor'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
