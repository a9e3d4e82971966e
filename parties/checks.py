"""`check_members` (spec/parties.md): a condition over `{"members": [{"account", "role",
"profile"}, ...]}`. Pure Python: validated up front (a bad condition is a 400), evaluated to a
reason that says why it failed.

A condition is an object whose keys are paths (`a.b` nested) into the subject; each value is a
plain value (equal) or `{"@func": OP, "@cond": C}` comparing the field with C, where
`"@value": EXPR` replaces the field by a computed value: `{"@func": "num_child_where",
"@test": OP, "@field": PATH, "@cond": C}` counts the items of the field (a list) whose PATH
passes OP against C. In a member, a bare PATH also looks inside `profile`.
"""

from __future__ import annotations

from typing import Any

COMPARISONS = ("==", "!=", ">", ">=", "<", "<=")
PRESENCE = ("exists", "not_exists")
_MISSING = object()


class CheckError(ValueError):
    """The condition itself is malformed."""


def validate_check(condition: Any) -> dict[str, Any]:
    """Raise CheckError saying what is wrong; return the condition."""
    if not isinstance(condition, dict) or not condition:
        raise CheckError("A check must be a non-empty JSON object of paths to tests.")
    for path, test in condition.items():
        _validate_test(test, where=path)
    return condition


def _validate_test(test: Any, *, where: str) -> None:
    if not isinstance(test, dict) or "@func" not in test:
        if isinstance(test, dict):
            validate_check(test)  # a nested object of paths
        return
    func = test["@func"]
    if func in PRESENCE:
        _only(test, {"@func"}, where)
        return
    if func not in COMPARISONS:
        raise CheckError(f"{where}: unknown @func {func!r}; use one of {', '.join(COMPARISONS + PRESENCE)}.")
    if "@cond" not in test:
        raise CheckError(f"{where}: {func!r} needs @cond.")
    _only(test, {"@func", "@cond", "@value"}, where)
    if "@value" in test:
        _validate_expression(test["@value"], where=where)


def _validate_expression(expression: Any, *, where: str) -> None:
    if not isinstance(expression, dict) or expression.get("@func") != "num_child_where":
        raise CheckError(f"{where}: @value must be {{'@func': 'num_child_where', ...}}.")
    _only(expression, {"@func", "@test", "@field", "@cond"}, where)
    if expression.get("@test") not in COMPARISONS + PRESENCE:
        raise CheckError(f"{where}: num_child_where needs @test, one of {', '.join(COMPARISONS + PRESENCE)}.")
    if not isinstance(expression.get("@field"), str) or not expression["@field"]:
        raise CheckError(f"{where}: num_child_where needs @field, a path.")
    if expression["@test"] in COMPARISONS and "@cond" not in expression:
        raise CheckError(f"{where}: num_child_where needs @cond.")


def _only(test: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(test) - allowed)
    if extra:
        raise CheckError(f"{where}: unexpected {', '.join(extra)}.")


def check_failure(condition: dict[str, Any], subject: dict[str, Any]) -> str | None:
    """None when `subject` passes, else a sentence saying which test failed."""
    for path, test in condition.items():
        value = _lookup(subject, path)
        failure = _test_failure(test, value, path)
        if failure:
            return failure
    return None


def _test_failure(test: Any, value: Any, path: str) -> str | None:
    if isinstance(test, dict) and "@func" not in test:
        if not isinstance(value, dict):
            return f"{path} is not an object."
        nested = check_failure(test, value)
        return f"{path}.{nested}" if nested else None
    if not isinstance(test, dict):
        return None if value is not _MISSING and _compare("==", value, test) else f"{path} is not {test!r}."
    func = test["@func"]
    if func == "exists":
        return None if value is not _MISSING else f"{path} does not exist."
    if func == "not_exists":
        return None if value is _MISSING else f"{path} exists."
    if "@value" in test:
        value = _evaluate(test["@value"], value)
        described = f"the count of {path} where {_describe(test['@value'])}"
    else:
        described = path
    if value is _MISSING:
        return f"{path} does not exist."
    if _compare(func, value, test["@cond"]):
        return None
    return f"{described} is {_show(value)}, not {func} {_show(test['@cond'])}."


def _evaluate(expression: dict[str, Any], value: Any) -> Any:
    if not isinstance(value, list):
        return _MISSING
    op, field = expression["@test"], expression["@field"]
    count = 0
    for item in value:
        found = _member_lookup(item, field)
        if op == "exists":
            count += found is not _MISSING
        elif op == "not_exists":
            count += found is _MISSING
        elif found is not _MISSING and _compare(op, found, expression["@cond"]):
            count += 1
    return count


def _describe(expression: dict[str, Any]) -> str:
    if expression["@test"] in PRESENCE:
        return f"{expression['@field']} {expression['@test']}"
    return f"{expression['@field']} {expression['@test']} {_show(expression['@cond'])}"


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _lookup(subject: Any, path: str) -> Any:
    value = subject
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _member_lookup(member: Any, path: str) -> Any:
    """A path in the member, and a bare name also inside its profile."""
    found = _lookup(member, path)
    if found is _MISSING and isinstance(member, dict):
        found = _lookup(member.get("profile"), path)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    """Numbers compare as numbers; other values only for (in)equality, exactly."""
    if _is_number(left) and _is_number(right):
        pass
    elif op in ("==", "!="):
        if isinstance(left, bool) != isinstance(right, bool):
            return op == "!="
    elif not (isinstance(left, str) and isinstance(right, str)):
        return False
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)
