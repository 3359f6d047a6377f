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

root, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 443), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"serving {root} as https://packages.microsoft.com/", flush=True)
server.serve_forever()
