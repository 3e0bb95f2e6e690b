from __future__ import annotations

from minilab.matrix import Column, Record, render, render_html, split_nodeid

TARGETS = ["amd64-alpine-like", "arm64-alpine-like"]


def test_split_nodeid() -> None:
    assert split_nodeid("tests/e2e/test_oom.py::test_hog[arm64-alpine-like]", TARGETS) == (
        "test_oom.py::test_hog", "arm64-alpine-like")  # fmt: skip
    assert split_nodeid("tests/e2e/test_caps.py::test_bind[amd64-alpine-like-1000]", TARGETS) == (
        "test_caps.py::test_bind[1000]", "amd64-alpine-like")  # fmt: skip
    assert split_nodeid("tests/e2e/test_x.py::test_y[0-amd64-alpine-like]", TARGETS) == (
        "test_x.py::test_y[0]", "amd64-alpine-like")  # fmt: skip
    assert split_nodeid("tests/unit/test_cli.py::test_defaults", TARGETS) is None


COLUMNS = [Column("local-amd64-alpine-like", "local", "v1", "amd64-alpine-like", "native"),
           Column("local-arm64-alpine-like", "local", "v1", "arm64-alpine-like", "qemu")]  # fmt: skip


def test_render_shows_every_cell_totals_and_each_hosts_cgroup() -> None:
    records = [
        Record("test_oom.py::test_hog", "local-amd64-alpine-like", "passed", 0.25, start=100.0, stop=100.3),
        Record("test_oom.py::test_hog", "local-arm64-alpine-like", "failed", 3.0, text="boom", start=100, stop=103),
        Record("test_pids.py::test_loop", "local-amd64-alpine-like", "skipped", 0.0, "Skipped: no pids.peak here"),
    ]
    text = render(records, COLUMNS, {"local": {"boot": 0, "provision": 0}})
    assert text.startswith("1 passed, 1 failed, 1 skipped")
    assert "| scenario | local (cgroup v1) amd64-alpine-like | local (cgroup v1) arm64-alpine-like |" in text
    assert "| test_oom.py::test_hog | pass 0.2s | FAIL 3.0s |" in text
    assert "| test_pids.py::test_loop | skip (no pids.peak here) 0.0s |  |" in text
    assert "- `local-arm64-alpine-like`: qemu" in text
    assert "- local: cgroup v1, boot 0s, provision 0s, tests 3s wall (2 cells)" in text


def test_a_teardown_error_after_a_pass_counts_once_as_an_error() -> None:
    records = [Record("t.py::a", "local-amd64-alpine-like", "passed", 1.0),
               Record("t.py::a", "local-amd64-alpine-like", "error", 0.1, text="left a cgroup")]  # fmt: skip
    assert render(records, COLUMNS[:1]).startswith("0 passed, 0 failed, 0 skipped, 1 left something behind")


def test_html_links_each_failing_cell_to_its_text() -> None:
    records = [Record("test_oom.py::test_hog", "local-arm64-alpine-like", "failed", 3.0, text="AssertionError: <137>"),
               Record("test_oom.py::test_hog", "local-amd64-alpine-like", "passed", 0.2)]  # fmt: skip
    page = render_html(records, COLUMNS, "e2e matrix (local host)")
    assert '<td class="failed"><a href="#failure-1">FAIL 3.0s</a></td>' in page
    assert '<h3 id="failure-1">test_oom.py::test_hog on local-arm64-alpine-like: failed</h3>' in page
    assert "<pre>AssertionError: &lt;137&gt;</pre>" in page  # escaped, not markup
    assert '<td class="passed" title="">pass 0.2s</td>' in page


def _browser() -> str:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise AssertionError("no headless browser: apt-get install chromium (scripts/setup.sh installs it for unit)")


def _png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib alone."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, pixels, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [tuple(line[x * channels : x * channels + 3]) for x in range(width)]
        prev = line
    return pixels


def test_the_html_matrix_in_a_real_browser(tmp_path) -> None:  # noqa: ANN001
    """Chromium (headless) draws the page: every outcome's colour is on the screen, and in the DOM it
    built each failing cell links to an element that holds that failure's text."""
    import subprocess
    from html.parser import HTMLParser
    from pathlib import Path

    from minilab.matrix import COLOURS

    records = [
        Record("test_oom.py::test_hog", "local-amd64-alpine-like", "passed", 0.2),
        Record("test_oom.py::test_hog", "local-arm64-alpine-like", "failed", 3.0, text="AssertionError: rc 0 != 137"),
        Record("test_pids.py::test_loop", "local-amd64-alpine-like", "skipped", 0.0, "Skipped: no pids.peak"),
        Record("test_pids.py::test_loop", "local-arm64-alpine-like", "error", 0.1, text="cgroups left behind"),
    ]
    page = tmp_path / "matrix.html"
    page.write_text(render_html(records, COLUMNS, "e2e matrix (browser check)"))
    shot = tmp_path / "matrix.png"
    common = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    r = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1000,500", page.as_uri()],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shot.exists(), r.stderr[-2000:]
    out = Path(__file__).resolve().parents[3] / "out"
    out.mkdir(exist_ok=True)
    (out / "matrix-screenshot.png").write_bytes(shot.read_bytes())  # for a person to look at
    seen = set(_png_pixels(shot.read_bytes()))
    for outcome, colour in COLOURS.items():
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in seen, f"no {outcome} cell ({colour}) on the screen"
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []
            self.texts: dict[str, str] = {}
            self._open: str | None = None
            self._pending: str | None = None

        def handle_starttag(self, tag: str, attrs: list) -> None:
            a = dict(attrs)
            if tag == "a" and a.get("href", "").startswith("#"):
                self.hrefs.append(a["href"][1:])
            if "id" in a and a["id"].startswith("failure-"):
                self._pending = a["id"]
            elif tag == "pre" and self._pending:
                self._open, self._pending = self._pending, None

        def handle_data(self, data: str) -> None:
            if self._open:
                self.texts[self._open] = self.texts.get(self._open, "") + data

        def handle_endtag(self, tag: str) -> None:
            if tag == "pre":
                self._open = None

    links = Links()
    links.feed(dom)
    assert links.hrefs == ["failure-1", "failure-2"], dom[:2000]
    assert links.texts == {"failure-1": "AssertionError: rc 0 != 137", "failure-2": "cgroups left behind"}


def test_an_xdist_group_suffix_is_not_part_of_the_test() -> None:
    nodeid = "tests/e2e/test_oom.py::test_hog[debian-v2-arm64-alpine-like-rootless]@debian-v2-1"
    targets = ["debian-v2-arm64-alpine-like", "debian-v2-arm64-alpine-like-rootless"]
    assert split_nodeid(nodeid, targets) == ("test_oom.py::test_hog", "debian-v2-arm64-alpine-like-rootless")
    dotted = "ubuntu-22.04-amd64-alpine-like"
    assert split_nodeid(f"t.py::a[{dotted}]@ubuntu-22.04-0", [dotted]) == ("t.py::a", dotted)
