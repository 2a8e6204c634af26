#!/usr/bin/env python3
"""Build step: converts docs/openapi.yaml to JSON and writes a C++ file defining
ticketd::app::OpenApiJson() (served at GET /api/v1/openapi.json). Needs PyYAML
(Debian: python3-yaml, installed by tools/deps)."""
import datetime
import json
import sys

import yaml


def main() -> int:
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
        print(f"{src}: not an OpenAPI 3.1 document", file=sys.stderr)
        return 1
    if not isinstance(doc.get("paths"), dict) or not doc["paths"]:
        print(f"{src}: no paths", file=sys.stderr)
        return 1

    def default(value):
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        raise TypeError(f"cannot convert {type(value).__name__} to JSON")

    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"), default=default)
    # Raw string pieces of <= 16 KiB (portable literal sizes); ensure_ascii keeps the bytes plain.
    pieces = [text[i:i + 16384] for i in range(0, len(text), 16384)]
    delim = "oapi"
    assert all(f"){delim}\"" not in p for p in pieces)
    body = "\n".join(f'    R"{delim}({p}){delim}"' for p in pieces)
    with open(out, "w", encoding="utf-8") as f:
        f.write("// Generated from docs/openapi.yaml by cmake/openapi_to_cpp.py. Do not edit.\n")
        f.write("#include \"app/docs.hpp\"\n\nnamespace ticketd::app {\n\n")
        f.write("std::string_view OpenApiJson() {\n  static constexpr char kJson[] =\n")
        f.write(body + ";\n")
        f.write("  return {kJson, sizeof(kJson) - 1};\n}\n\n}  // namespace ticketd::app\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
