#!/usr/bin/env python3
"""Rebuilds data/secret-rules.json, the maintained secret rules tandem checks every outgoing text against:
gitleaks' default rules (MIT), as the keyspoor crate on crates.io ships them transformed for Rust's regex crate
(src/builtin_rules.json). Generic rules (tandem's own detectors cover them) and rules that only match a path
are left out.

Usage: scripts/refresh-secret-rules.py [VERSION]   (default: the keyspoor version below)"""

import io
import json
import os
import sys
import tarfile
import urllib.request

VERSION = sys.argv[1] if len(sys.argv) > 1 else "0.1.3"
URL = "https://static.crates.io/crates/keyspoor/keyspoor-%s.crate" % VERSION

with urllib.request.urlopen(URL) as r:
    crate = tarfile.open(fileobj=io.BytesIO(r.read()), mode="r:gz")
data = json.load(crate.extractfile("keyspoor-%s/src/builtin_rules.json" % VERSION))["rules"]
rules = []
for r in data:
    if not r.get("pattern") or r.get("path") or r["id"].startswith("generic"):
        continue
    e = {"id": r["id"], "pattern": r["pattern"]}
    if r.get("keywords"):
        e["keywords"] = [k.lower() for k in r["keywords"]]
    if r.get("min_entropy"):
        e["min_entropy"] = r["min_entropy"]
    if r.get("secret_group"):
        e["group"] = r["secret_group"]
    rules.append(e)
source = ("Gitleaks default rules (MIT, (c) 2019 Zachary Rice), as transformed for Rust's regex crate by keyspoor %s "
          "(crates.io, Apache-2.0); generic and path-only rules left out" % VERSION)
lines = ['{"source": %s,' % json.dumps(source), ' "rules": [']
for i, e in enumerate(rules):
    lines.append("  " + json.dumps(e, sort_keys=True) + ("," if i + 1 < len(rules) else ""))
lines.append("]}")
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "secret-rules.json")
with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
print("secret rules: %d from keyspoor %s -> data/secret-rules.json" % (len(rules), VERSION))
