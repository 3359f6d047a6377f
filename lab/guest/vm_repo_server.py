"""The stand-in for https://packages.microsoft.com inside the vm guest (not part of kedge).

Serves the lab's repository folder over TLS on the guest's loopback port 443 with the lab's server
certificate; the guest's /etc/hosts maps packages.microsoft.com there and its trust store holds the
lab's CA. Started and stopped by the lab (`systemd-run --unit=lab-repo`), so a test can boot the
guest with the repository out of reach and bring it back later.

  python3 vm_repo_server.py ROOT CERT KEY
"""

import functools
import http.server
import ssl
import sys



class Handler(http.server.SimpleHTTPRequestHandler):
    # HTTP/1.1 with Content-Length: apt's https method reads the answer's length, not to EOF.
    protocol_version = "HTTP/1.1"


class Server(http.server.ThreadingHTTPServer):
    def shutdown_request(self, request):
        # A TLS close_notify before the socket closes: OpenSSL 3 clients (apt, curl) fail a download
        # that ends in a bare EOF ("unexpected eof while reading").
        try:
            request.unwrap()
        except (OSError, ValueError):
            pass
        super().shutdown_request(request)


root, cert, key = sys.argv[1:4]
server = Server(("127.0.0.1", 443), functools.partial(Handler, directory=root))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"serving {root} as https://packages.microsoft.com/", flush=True)
server.serve_forever()
