"""Downloads against a local HTTP server on 127.0.0.1 serving a fixture archive."""

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from experiments.data.download import DownloadError, download, extract_archive
from experiments.data.integrity import DigestMismatchError


def _fixture_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(20):
            zf.writestr(f"cells/{i:03d}.txt", (f"file {i}\n" * 2000).encode())
    return buf.getvalue()


PAYLOAD = _fixture_zip()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Serves PAYLOAD with Range support; ``cut_first`` truncates the first response midway."""

    def __init__(self, cut_first=False, honour_range=True):
        self.requests = []
        self.cut_first = cut_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = 0
                if rng and honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(PAYLOAD):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_first and len(outer.requests) == 1:
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cells.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_success_and_extract(tmp_path):
    with Server() as srv:
        out = download(srv.url, tmp_path / "cells.zip", SHA, backoff=0, progress=False)
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "cells.zip.part").exists()
    dest = extract_archive(out, tmp_path / "extracted")
    assert sorted(p.name for p in (dest / "cells").iterdir())[:2] == ["000.txt", "001.txt"]
    assert len(list((dest / "cells").iterdir())) == 20
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    # a second call finds the verified file and does not hit the network
    assert download("http://127.0.0.1:9/none.zip", out, SHA, retries=0, progress=False) == out


def test_checksum_mismatch_names_both_digests_and_leaves_nothing(tmp_path):
    wrong = "0" * 64
    with Server() as srv, pytest.raises(DigestMismatchError) as err:
        download(srv.url, tmp_path / "cells.zip", wrong, backoff=0, progress=False)
    assert wrong in str(err.value) and SHA in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_resumes_with_range(tmp_path):
    with Server(cut_first=True) as srv:
        out = download(srv.url, tmp_path / "cells.zip", SHA, retries=3, backoff=0, progress=False)
    assert out.read_bytes() == PAYLOAD
    assert srv.requests[0] is None
    first_cut = len(PAYLOAD) // 3
    assert srv.requests[1] == f"bytes={first_cut}-"  # resumed where the cut left off


def test_partial_file_from_an_earlier_run_is_resumed(tmp_path):
    (tmp_path / "cells.zip.part").write_bytes(PAYLOAD[:1000])
    with Server() as srv:
        download(srv.url, tmp_path / "cells.zip", SHA, backoff=0, progress=False)
    assert srv.requests == ["bytes=1000-"]
    assert (tmp_path / "cells.zip").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    (tmp_path / "cells.zip.part").write_bytes(b"garbage" * 10)
    with Server(honour_range=False) as srv:
        download(srv.url, tmp_path / "cells.zip", SHA, backoff=0, progress=False)
    assert (tmp_path / "cells.zip").read_bytes() == PAYLOAD


def test_offline_error_names_url_and_mirror_option(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here: connection refused, like an offline machine
    url = f"http://127.0.0.1:{port}/cells.zip"
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "cells.zip", SHA, retries=1, backoff=0, progress=False)
    msg = str(err.value)
    assert url in msg and "--mirror" in msg and "TGHEM_DATA_MIRROR" in msg
    assert not (tmp_path / "cells.zip").exists()


def test_extract_rejects_path_traversal(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        extract_archive(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_a_mirror_without_the_data_is_named_when_the_download_then_fails(tmp_path, monkeypatch):
    import dataclasses

    from experiments.data.acquire import acquire
    from experiments.data.registry import get_spec

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    spec = dataclasses.replace(get_spec("vgg_cells"), urls=(f"http://127.0.0.1:{port}/cells.zip",))
    mirror = tmp_path / "mirror"
    (mirror / "vgg_cells" / "cells").mkdir(parents=True)  # the dataset's folder, empty
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    with pytest.raises(DownloadError) as err:
        acquire(spec, tmp_path / "raw", mirror=mirror, quiet=True, retries=0)
    msg = str(err.value)
    assert msg.startswith(f"could not download http://127.0.0.1:{port}/cells.zip: ")
    assert msg.endswith(f"The mirror {mirror} was searched and holds neither cells.zip (in it or in vgg_cells/) nor "
                        f"the published layout.")
    assert not list((tmp_path / "raw").glob("**/*.part"))
