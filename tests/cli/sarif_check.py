"""Structural checks of a SARIF 2.1.0 log as `heapgrow check --sarif` writes it
(shared by tests/cli/test_check.py and tests/cli/test_ci.py).

validate(doc) raises AssertionError naming the first property that breaks
what the SARIF 2.1.0 specification (OASIS, sections in brackets) requires of
the objects heapgrow writes, plus what code-scanning services need (a rule
for every ruleId, a physical location with a line per result).
"""
import re

LEVELS = {"none", "note", "warning", "error"}
# RFC 3986: a URI reference with every other byte percent-encoded.
URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~/%:@!$&'()*+,;=?#\[\]]*$")


def _req(obj, key, typ, where):
    assert isinstance(obj, dict), f"{where}: not an object"
    assert key in obj, f"{where}: '{key}' is missing"
    assert isinstance(obj[key], typ), f"{where}.{key}: {type(obj[key]).__name__}, want {typ}"
    return obj[key]


def _message(obj, where):
    m = _req(obj, "message", dict, where)
    assert isinstance(m.get("text"), str) or isinstance(m.get("id"), str), \
        f"{where}.message: neither text nor id [3.11.2]"


def _uri(uri, where, base_ids):
    assert URI_CHARS.match(uri), f"{where}: {uri!r} is not an encoded URI reference"
    assert "%" not in uri or re.fullmatch(r"([^%]|%[0-9A-F]{2})*", uri), f"{where}: bad escape"


def _artifact(a, where, base_ids):
    uri = _req(a, "uri", str, where)
    _uri(uri, where + ".uri", base_ids)
    if "uriBaseId" in a:
        assert not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) and not uri.startswith("/"), \
            f"{where}: uriBaseId with a non-relative uri {uri!r} [3.4.4]"
        assert a["uriBaseId"] in base_ids, f"{where}: undefined uriBaseId {a['uriBaseId']}"
    elif uri.startswith("/"):
        raise AssertionError(f"{where}: absolute path {uri!r} without file: scheme")


def _location(loc, where, base_ids, need_line):
    assert isinstance(loc, dict), f"{where}: not an object"
    if "physicalLocation" in loc:
        pl = loc["physicalLocation"]
        assert "artifactLocation" in pl or "address" in pl, \
            f"{where}.physicalLocation: neither artifactLocation nor address [3.29.2]"
        if "artifactLocation" in pl:
            _artifact(pl["artifactLocation"], where + ".physicalLocation.artifactLocation",
                      base_ids)
        if "region" in pl:
            line = _req(pl["region"], "startLine", int, where + ".physicalLocation.region")
            assert line >= 1, f"{where}: startLine {line} [3.30.5]"
        if need_line:
            _req(pl, "region", dict, where + ".physicalLocation")
    elif need_line:
        raise AssertionError(f"{where}: no physicalLocation")
    for i, ll in enumerate(loc.get("logicalLocations", [])):
        assert isinstance(ll.get("fullyQualifiedName", ll.get("name")), str), \
            f"{where}.logicalLocations[{i}]: no name"
    if "message" in loc:
        _message(loc, where)


def validate(doc, need_lines=True):
    """need_lines: every result has a region with startLine (true of programs
    built with debug information)."""
    assert _req(doc, "version", str, "log") == "2.1.0", "version [3.13.2]"
    assert "sarif-schema-2.1.0" in _req(doc, "$schema", str, "log"), "$schema [3.13.3]"
    runs = _req(doc, "runs", list, "log")
    assert runs, "no run"
    for ri, run in enumerate(runs):
        w = f"runs[{ri}]"
        driver = _req(_req(run, "tool", dict, w), "driver", dict, w + ".tool")
        _req(driver, "name", str, w + ".tool.driver")
        _req(driver, "version", str, w + ".tool.driver")
        rules = _req(driver, "rules", list, w + ".tool.driver")
        ids = []
        for i, r in enumerate(rules):
            rid = _req(r, "id", str, f"{w}.rules[{i}]")
            assert rid not in ids, f"rule {rid} twice"
            ids.append(rid)
            _req(_req(r, "shortDescription", dict, rid), "text", str, rid + ".shortDescription")
            assert r.get("defaultConfiguration", {}).get("level", "warning") in LEVELS
        base_ids = set()
        for k, v in run.get("originalUriBaseIds", {}).items():
            u = _req(v, "uri", str, f"{w}.originalUriBaseIds.{k}")
            assert u.startswith("file:///") and u.endswith("/"), \
                f"base {k}: {u!r} not an absolute directory URI [3.14.14]"
            base_ids.add(k)
        for ii, inv in enumerate(run.get("invocations", [])):
            wi = f"{w}.invocations[{ii}]"
            _req(inv, "executionSuccessful", bool, wi)
            for ni, n in enumerate(inv.get("toolExecutionNotifications", [])):
                _message(n, f"{wi}.toolExecutionNotifications[{ni}]")
                assert n.get("level", "warning") in LEVELS
        for i, res in enumerate(_req(run, "results", list, w)):
            wr = f"{w}.results[{i}]"
            _message(res, wr)
            rid = _req(res, "ruleId", str, wr)
            assert rid in ids, f"{wr}: ruleId {rid} has no rule"
            if "ruleIndex" in res:
                assert ids[res["ruleIndex"]] == rid, f"{wr}: ruleIndex does not name {rid}"
            assert res.get("level", "warning") in LEVELS, f"{wr}: level"
            locs = _req(res, "locations", list, wr)
            assert locs, f"{wr}: no location"
            for li, loc in enumerate(locs):
                _location(loc, f"{wr}.locations[{li}]", base_ids, need_lines)
            for si, st in enumerate(res.get("stacks", [])):
                frames = _req(st, "frames", list, f"{wr}.stacks[{si}]")
                for fi, fr in enumerate(frames):
                    if "location" in fr:
                        _location(fr["location"], f"{wr}.stacks[{si}].frames[{fi}].location",
                                  base_ids, False)


def results(doc):
    """(ruleId, level, uri, uriBaseId, startLine, function) of each result."""
    out = []
    for res in doc["runs"][0]["results"]:
        loc = res["locations"][0]
        pl = loc.get("physicalLocation", {})
        art = pl.get("artifactLocation", {})
        fn = (loc.get("logicalLocations") or [{}])[0].get("fullyQualifiedName")
        out.append((res["ruleId"], res["level"], art.get("uri"), art.get("uriBaseId"),
                    pl.get("region", {}).get("startLine"), fn))
    return out
