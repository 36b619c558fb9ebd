"""``python -m tinygraph.lessons list | check NN [path] | train NN [path]``."""

from __future__ import annotations

import argparse
import sys
import time

from .catalog import LESSONS, find
from .checker import RANDOM_EXAMPLES, check_lesson, lesson_status, lessons_dir


def _list(args) -> int:
    folder = lessons_dir()
    print(f"lessons in {folder}:")
    words = {"pass": "passes", "todo": "not started", "partial": "partly done", "fail": "fails", "error": "no file"}
    for lesson in LESSONS.values():
        status = lesson_status(lesson, folder / lesson.filename)
        names = ", ".join(spec.name for spec in lesson.functions)
        print(f"  {lesson.number}  {lesson.title:<66} {words[status]:<12} ({names})")
    print("\ncheck one:  python -m tinygraph.lessons check 01")
    return 0


def _check(args) -> int:
    lesson = find(args.lesson)
    started = time.perf_counter()
    ok = check_lesson(lesson, args.path, examples=args.examples)
    print(f"(checked in {time.perf_counter() - started:.1f} s)")
    return 0 if ok else 1


def _train(args) -> int:
    from .train import train

    return train(find(args.lesson), args.path, epochs=args.epochs, limit=args.limit, seed=args.seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygraph.lessons", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the lessons and which of yours pass").set_defaults(run=_list)
    check = commands.add_parser("check", help="check your functions of one lesson")
    check.add_argument("lesson", help="the lesson's number, e.g. 01")
    check.add_argument("path", nargs="?", help="your file (default: lessons/NN_....py)")
    check.add_argument("--examples", type=int, default=RANDOM_EXAMPLES, help="random cases per function")
    check.set_defaults(run=_check)
    train = commands.add_parser("train", help="train the digits CNN with your kernels of one lesson")
    train.add_argument("lesson", help="the lesson's number, e.g. 01")
    train.add_argument("path", nargs="?", help="your file (default: lessons/NN_....py)")
    train.add_argument("--epochs", type=int, default=3, help="passes over the training images")
    train.add_argument("--limit", type=int, default=0, help="use only the first N training and test images")
    train.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_check)
    train.set_defaults(run=_train)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyError as err:
        print(f"python -m tinygraph.lessons: {err.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
