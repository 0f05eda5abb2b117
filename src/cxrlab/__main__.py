"""Allow ``python -m cxrlab ...`` (and ``torchrun -m cxrlab train ...``)."""

from cxrlab.cli import main

if __name__ == "__main__":
    main()
