"""(draw: not built yet)"""


def add_arguments(ap) -> None:
    ap.add_argument("args", nargs="*")


def run(args) -> int:
    from netdef.errors import NetdefError

    raise NetdefError("the draw command is not available yet")
