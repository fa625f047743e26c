#!/usr/bin/python3
"""Independent HTTP client for the simulated cameras (Python standard library).

Usage:
    http_peer.py get URL TIMEOUT_S
    http_peer.py mjpeg URL PARTS TIMEOUT_S

Prints one JSON object:
    get:   {"status": 200, "content_type": "...", "body_hex": "..."}
    mjpeg: {"status": 200, "content_type": "...", "boundary": "frame",
            "parts": [{"headers": {...}, "body_hex": "..."}, ...]}
    or     {"error": "refused" | "timeout" | "text"}
The multipart/x-mixed-replace stream is parsed from the raw bytes: each part
is "--BOUNDARY CRLF headers CRLF CRLF body CRLF" with Content-Length.
"""
import http.client
import json
import socket
import sys
import urllib.parse


def connect(url, timeout):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("GET", u.path or "/")
    return conn, conn.getresponse()


def read_line(resp):
    line = resp.readline()
    if not line:
        raise EOFError("stream ended")
    return line


def mjpeg(url, count, timeout):
    conn, resp = connect(url, timeout)
    ctype = resp.getheader("Content-Type", "")
    out = {"status": resp.status, "content_type": ctype, "parts": []}
    params = dict(
        p.strip().split("=", 1) for p in ctype.split(";")[1:] if "=" in p
    )
    boundary = params.get("boundary", "").strip('"')
    out["boundary"] = boundary
    delim = ("--" + boundary).encode()
    while len(out["parts"]) < count:
        line = read_line(resp).rstrip(b"\r\n")
        if not line:
            continue  # CRLF after the previous body
        if line != delim:
            out["error"] = "expected boundary, got %r" % line[:40]
            break
        headers = {}
        while True:
            h = read_line(resp).rstrip(b"\r\n")
            if not h:
                break
            k, v = h.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers["content-length"])
        body = resp.read(n)
        if len(body) != n:
            out["error"] = "short part"
            break
        out["parts"].append({"headers": headers, "body_hex": body.hex()})
    conn.close()
    return out


def get(url, timeout):
    conn, resp = connect(url, timeout)
    body = resp.read()
    conn.close()
    return {"status": resp.status, "content_type": resp.getheader("Content-Type", ""), "body_hex": body.hex()}


def main():
    try:
        if sys.argv[1] == "get" and len(sys.argv) == 4:
            out = get(sys.argv[2], float(sys.argv[3]))
        elif sys.argv[1] == "mjpeg" and len(sys.argv) == 5:
            out = mjpeg(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ConnectionRefusedError:
        out = {"error": "refused"}
    except (socket.timeout, TimeoutError):
        out = {"error": "timeout"}
    except Exception as e:
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
