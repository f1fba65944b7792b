"""The docs stay true to the tree: the README is short and links every page, links resolve, and every
source path a page names exists."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))


def test_the_readme_is_a_first_screen_that_reaches_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    for page in PAGES:
        assert f"](docs/{page.name})" in readme, f"{page.name} is not linked from the README"
    for command in ("ingest", "status", "sql", "label", "pairs", "export", "train", "score"):
        assert f"rmcurate {command} " in readme, command


def test_links_and_source_paths_in_the_docs_exist():
    missing = []
    for doc in [ROOT / "README.md", *PAGES]:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith("http") and not (doc.parent / target).exists():
                missing.append(f"{doc.name}: link {target}")
        for path in re.findall(r"\b((?:src/rmcurate|benchmarks|tests)/[\w/.-]*\w)", text):
            if not (ROOT / path).exists():
                missing.append(f"{doc.name}: {path}")
    assert not missing, "\n".join(missing)
