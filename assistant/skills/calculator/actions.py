"""Calculator: spoken arithmetic ("what is seventeen times twenty three") evaluated safely.

The latest user text becomes a list of tokens (numbers found by `assistant.nlu.numbers`, operator
words and symbols), the part of it that is arithmetic is cut out of the surrounding words
("what is ... please"), and a small recursive-descent parser builds a tree that is evaluated
directly. Nothing is ever handed to `eval()`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from assistant.nlu.numbers import find_numbers

Number = int | float
EventList = list[dict[str, Any]]

UNPARSEABLE = "Sorry, I couldn't work that out. Try something like: what is 17 times 23."

# Operator phrases, longest first within a shared first word; the value is the operator's symbol.
OPERATORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("raised", "to", "the", "power", "of"), "^"),
    (("to", "the", "power", "of"), "^"),
    (("to", "the", "power"), "^"),
    (("raised", "to"), "^"),
    (("power", "of"), "^"),
    (("*", "*"), "^"),
    (("^",), "^"),
    (("multiplied", "by"), "*"),
    (("multiplied", "with"), "*"),
    (("times",), "*"),
    (("x",), "*"),
    (("×",), "*"),
    (("*",), "*"),
    (("divided", "by"), "/"),
    (("over",), "/"),
    (("/",), "/"),
    (("÷",), "/"),
    (("plus",), "+"),
    (("+",), "+"),
    (("minus",), "-"),
    (("-",), "-"),
    (("−",), "-"),
    (("percent", "of"), "%of"),
    (("per", "cent", "of"), "%of"),
    (("%", "of"), "%of"),
    (("percent",), "%"),
    (("per", "cent"), "%"),
    (("%",), "%"),
    (("squared",), "sq"),
    (("cubed",), "cube"),
    (("square", "root", "of"), "sqrt"),
    (("square", "root"), "sqrt"),
    (("sqrt", "of"), "sqrt"),
    (("sqrt",), "sqrt"),
    (("√",), "sqrt"),
    (("cube", "root", "of"), "cbrt"),
    (("modulo",), "mod"),
    (("mod",), "mod"),
    (("of",), "*"),  # "half of 80"; "percent of" and "root of" are matched before it
    (("(",), "("),
    ((")",), ")"),
)
# A verb earlier in the sentence says what its connecting word means:
# "add 2 and 3", "multiply 8 by 7", "divide 10 by 4", "subtract 3 from 10".
VERBS: dict[str, dict[str, str]] = {
    "add": {"and": "+", "to": "+"},
    "sum": {"and": "+"},
    "multiply": {"by": "*", "and": "*", "with": "*"},
    "product": {"and": "*"},
    "divide": {"by": "/"},
    "subtract": {"from": "from"},
    "difference": {"and": "-"},
}
FILLERS = frozenset(["the", "a", "an"])
BINARY = frozenset(["+", "-", "*", "/", "^", "%of", "mod", "from"])
PREFIX = frozenset(["-", "sqrt", "cbrt"])
POSTFIX = frozenset(["sq", "cube", "%"])
SPOKEN = {
    "+": "plus", "-": "minus", "*": "times", "/": "divided by", "^": "to the power of",
    "%of": "percent of", "mod": "modulo",
}  # fmt: skip
PRECEDENCE = {"+": 1, "-": 1, "from": 1, "*": 2, "/": 2, "%of": 2, "mod": 2, "^": 3}

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+(?:\.\d+)?|[^\s\w]")


class CalculationError(Exception):
    """Something the user should hear about: the message is spoken as it is."""


class ParseError(Exception):
    """The text is not arithmetic this parser understands."""


# --- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "op" or "word"
    value: Any


def tokenize(text: str) -> list[Token]:
    # "7x8" is a product, not a word that numbers.py would skip.
    text = re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", " times ", text.lower())
    tokens: list[Token] = []
    cursor = 0
    for start, end, value in find_numbers(text):
        tokens += _words(text[cursor:start])
        if value < 0:  # "minus 3" and "-3" come back as one negative number
            tokens.append(Token("op", "-"))
            value = -value
        tokens.append(Token("num", value))
        cursor = end
    tokens += _words(text[cursor:])
    return _operators(tokens)


def _words(text: str) -> list[Token]:
    return [Token("word", w) for w in _WORD.findall(text)]


def _operators(tokens: list[Token]) -> list[Token]:
    """Merge operator phrases into single tokens; verbs give connecting words a meaning."""
    words = [t.value for t in tokens if t.kind == "word"]
    connectives: dict[str, str] = {}
    for verb, meanings in VERBS.items():
        if verb in words:
            connectives.update(meanings)
    merged: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind != "word":
            merged.append(token)
            i += 1
            continue
        if token.value in connectives:
            merged.append(Token("op", connectives[token.value]))
            i += 1
            continue
        for phrase, symbol in OPERATORS:
            window = tokens[i : i + len(phrase)]
            if len(window) == len(phrase) and all(
                t.kind == "word" and t.value == w for t, w in zip(window, phrase, strict=True)
            ):
                merged.append(Token("op", symbol))
                i += len(phrase)
                break
        else:
            merged.append(token)
            i += 1
    return merged


def arithmetic_span(tokens: list[Token]) -> list[Token]:
    """The tokens from the first that can start an expression to the last that can end one,
    without the filler words in between. Words around the span ("what is", "please") are
    ignored; an unknown word inside it or an operator dangling after it is a ParseError."""
    starts = [
        i
        for i, t in enumerate(tokens)
        if t.kind == "num" or (t.kind == "op" and (t.value in PREFIX or t.value == "("))
    ]
    ends = [
        i
        for i, t in enumerate(tokens)
        if t.kind == "num" or (t.kind == "op" and (t.value in POSTFIX or t.value == ")"))
    ]
    if not starts or not ends or not any(t.kind == "num" for t in tokens):
        raise ParseError("no numbers")
    first, last = starts[0], ends[-1]
    if any(t.kind == "op" and t.value in BINARY for t in tokens[last + 1 :]):
        raise ParseError("an operator without its second number")
    span = [t for t in tokens[first : last + 1] if not (t.kind == "word" and t.value in FILLERS)]
    if any(t.kind == "word" for t in span):
        raise ParseError("a word that is not arithmetic")
    return span


# --- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Num:
    value: Number


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "sqrt", "cbrt", "sq", "cube", "%"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Num | Unary | Binary


class Parser:
    """expr    := term (("+" | "-" | "from") term)*
    term    := unary (("*" | "/" | "%of" | "mod") unary)*
    unary   := ("-" | "sqrt" | "cbrt") unary | power
    power   := postfix ("^" unary)?
    postfix := primary ("sq" | "cube" | "%")*
    primary := NUMBER | "(" expr ")"
    """

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def parse(self) -> Node:
        node = self.expr()
        if self.i != len(self.tokens):
            raise ParseError("unexpected tokens at the end")
        return node

    def peek(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i].kind == "op":
            return str(self.tokens[self.i].value)
        return None

    def take(self, *ops: str) -> str | None:
        op = self.peek()
        if op is not None and op in ops:
            self.i += 1
            return op
        return None

    def expr(self) -> Node:
        node = self.term()
        while (op := self.take("+", "-", "from")) is not None:
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (op := self.take("*", "/", "%of", "mod")) is not None:
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        op = self.take("-", "sqrt", "cbrt")
        if op is not None:
            return Unary(op, self.unary())
        return self.power()

    def power(self) -> Node:
        node = self.postfix()
        if self.take("^") is not None:
            node = Binary("^", node, self.unary())  # right-associative: 2^3^2 = 2^9
        return node

    def postfix(self) -> Node:
        node = self.primary()
        while (op := self.take("sq", "cube", "%")) is not None:
            node = Unary(op, node)
        return node

    def primary(self) -> Node:
        if self.take("(") is not None:
            node = self.expr()
            if self.take(")") is None:
                raise ParseError("a bracket is not closed")
            return node
        if self.i < len(self.tokens) and self.tokens[self.i].kind == "num":
            self.i += 1
            return Num(self.tokens[self.i - 1].value)
        raise ParseError("expected a number")


def parse(text: str) -> Node:
    return Parser(arithmetic_span(tokenize(text))).parse()


# --- evaluation -----------------------------------------------------------------------------------


def tidy(value: Number) -> Number:
    """Floats that are whole numbers become ints; float noise (0.1 + 0.2) is rounded away."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CalculationError("That number is too big for me.")
        value = float(f"{value:.12g}")  # twelve significant digits
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
    return value


def evaluate(node: Node) -> Number:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Unary):
        return tidy(_unary(node.op, evaluate(node.operand)))
    return tidy(_binary(node.op, evaluate(node.left), evaluate(node.right)))


def _unary(op: str, x: Number) -> Number:
    if op == "-":
        return -x
    if op == "sqrt":
        if x < 0:
            raise CalculationError("I can't take the square root of a negative number.")
        if isinstance(x, int) and math.isqrt(x) ** 2 == x:
            return math.isqrt(x)
        return math.sqrt(x)
    if op == "cbrt":
        return math.copysign(abs(x) ** (1 / 3), x)
    if op == "sq":
        return _power(x, 2)
    if op == "cube":
        return _power(x, 3)
    if op == "%":
        return x / 100
    raise ParseError(f"unknown operator {op}")


def _binary(op: str, a: Number, b: Number) -> Number:
    if op == "+":
        return a + b
    if op in ("-", "from"):
        return b - a if op == "from" else a - b
    if op == "*":
        return a * b
    if op in ("/", "mod"):
        if b == 0:
            raise CalculationError("I can't divide by zero.")
        if op == "mod":
            return a % b
        return a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0 else a / b
    if op == "%of":
        return a * b / 100
    if op == "^":
        return _power(a, b)
    raise ParseError(f"unknown operator {op}")


def _power(base: Number, exponent: Number) -> Number:
    if base == 0 and exponent < 0:
        raise CalculationError("I can't divide by zero.")
    # Refuse before computing: an int power like 10 ** 10 ** 9 would never finish.
    if base != 0 and exponent * math.log10(abs(base)) > 300:
        raise CalculationError("That number is too big for me.")
    if base < 0 and not float(exponent).is_integer():
        raise CalculationError("I can't raise a negative number to a fractional power.")
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        return base**exponent
    return float(base) ** float(exponent)


# --- speaking -------------------------------------------------------------------------------------


def format_number(value: Number) -> str:
    """17 -> "17", 12.0 -> "12", 10/3 -> "3.3333", 1234567 -> "1,234,567"."""
    value = tidy(value)
    if isinstance(value, int) and abs(value) < 10**15:
        return f"{value:,}"
    if value == 0:
        return "0"
    if abs(value) >= 1e15 or abs(value) < 1e-6:
        mantissa, exponent = f"{float(value):.4e}".split("e")
        return f"{float(mantissa):g} times 10 to the power of {int(exponent)}"
    # Four decimals, but tiny values keep four significant digits instead of rounding to 0.
    decimals = max(4, 3 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def speak(node: Node, parent: int = 0) -> str:
    """The expression as words: "17 times 23", "the square root of 81"."""
    if isinstance(node, Num):
        return format_number(node.value)
    if isinstance(node, Unary):
        inner = speak(node.operand, 4)
        return {
            "-": f"minus {inner}",
            "sqrt": f"the square root of {inner}",
            "cbrt": f"the cube root of {inner}",
            "sq": f"{inner} squared",
            "cube": f"{inner} cubed",
            "%": f"{inner} percent",
        }[node.op]
    level = PRECEDENCE[node.op]
    if node.op == "from":  # "subtract 3 from 10" is said back as "10 minus 3"
        text = f"{speak(node.right, level)} minus {speak(node.left, level + 1)}"
    else:
        text = f"{speak(node.left, level)} {SPOKEN[node.op]} {speak(node.right, level + 1)}"
    return f"({text})" if level < parent else text


def answer(text: str) -> str:
    """The spoken answer to one calculation request."""
    try:
        tree = parse(text)
        result = evaluate(tree)
    except ParseError:
        return UNPARSEABLE
    except CalculationError as exc:
        return str(exc)
    except (OverflowError, ValueError):
        return "That number is too big for me."
    spoken = speak(tree)
    return f"{spoken[:1].upper()}{spoken[1:]} is {format_number(result)}."


class ActionCalculate(Action):
    def name(self) -> str:
        return "action_calculate"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(text=answer(tracker.latest_message.get("text") or ""))
        return []
