"""Shared helpers of the PyTorch parity scripts (tests/parity/test_*.py)."""

from dataclasses import dataclass, field


@dataclass
class Results:
    """Counts checks and prints one line for each."""

    passed: int = 0
    failed: int = 0
    failures: list = field(default_factory=list)

    def check(self, name, ok, detail):
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(name)
