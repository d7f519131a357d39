"""Download the evaluation datasets (Kodak, CLIC 2020 professional valid/test) into a folder.

Kodak files are checked against SHA-256 sums pinned below (taken from the copy the project was
measured on). The CLIC zips have no pinned sums: the script prints each zip's SHA-256 so a run
can be recorded and compared. `--verify DIR` checks a local Kodak folder without any network.

Examples:
    python scripts/fetch_datasets.py --dataset kodak --out data/kodak
    python scripts/fetch_datasets.py --dataset clic2020-valid --out data/clic2020-valid
    python scripts/fetch_datasets.py --verify data/kodak
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import click

KODAK_URL = "https://r0k.us/graphics/kodak/kodak/{name}"
CLIC_URLS = {
    "clic2020-valid": "https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip",
    "clic2020-test": "https://data.vision.ee.ethz.ch/cvl/clic/professional_test_2020.zip",
}
DATASETS = ("kodak", *CLIC_URLS)
TIMEOUT_S = 30.0

KODAK_SHA256: dict[str, str] = {
    "kodim01.png": "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd",
    "kodim02.png": "4f4b74a79237e311d72cad958237b5f7088d8bce1c82305ebefe1a70e3022dfd",
    "kodim03.png": "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",
    "kodim04.png": "e3b946107c5d3441c022f678d0c3caf1e224d81b1604ba840a4f88e562de61aa",
    "kodim05.png": "10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53",
    "kodim06.png": "363510303b715d4cbc384e1ce227e466b613a09e1b71ae985882bf8e7fbd9b18",
    "kodim07.png": "b77d3f006f42414bb242222e0482e750c0fb9e5ee8d4bed2f6f11c5605fe54a4",
    "kodim08.png": "ba23983c76b4832ee0e8af0592664756841a16779acd69f792e268fb6d13d6e7",
    "kodim09.png": "6a4361c2fc194feb4edaa9f9a4a0620fb9943e460ac7fdf037fb0f6dd6607a7d",
    "kodim10.png": "9dfb70f5867c29ff9ed6313683f19b3d867849e40fbc0c4c54a4a89df341cf23",
    "kodim11.png": "7936814b58b5387fce2e4e2488b4ec830dadd95fa9520f358ddb30990b50f2b6",
    "kodim12.png": "d78c37c2f04f23761ed2367dd77e2db584ddd4c3950833fecf89f199a8126980",
    "kodim13.png": "bc34a3ce58dea09dce1704c997171602de90cb34d0c8503a988b77f473d39b08",
    "kodim14.png": "55a94550ff18f3246c4074fd32b77b0c74447c26b6ad274d564d999c0450ba6e",
    "kodim15.png": "7538cbb80cb9103606c48b806eae57d56c885c7f90b9b3be70a41160f9cbb683",
    "kodim16.png": "a89c7268ccd4718ba424a99fc4643c572cf692ca6eae887185ceb4e9f11d2e54",
    "kodim17.png": "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b",
    "kodim18.png": "1a9258c365988961d87a0598725b609139c303ad48a5aad6c503c3b1a87849aa",
    "kodim19.png": "b7450b264b1b0a411390d8931b112c27905a992520fc90569dc4b920aa32bbdc",
    "kodim20.png": "3b46c71e3b92a563820ba32936be8330c586c41f938efd94be938386aae4328a",
    "kodim21.png": "ac958597c82073f6bb65129c68f72b651db5b9efd82e11547d07350214bc268b",
    "kodim22.png": "1cee58eb1f2d9c7ebb254d208a03c783ce6cf2c4d8c2cf45e235dd23b4ce1b29",
    "kodim23.png": "e3111a2fd4da24af15d6459ef9eacfe54106b38e27b4a21821b75c3f5d2d5baf",
    "kodim24.png": "1071c68372cc5a01435c2c225a5cf7d4bb803846ec08bb6b3d6721b156d7cb96",
}


class Offline(RuntimeError):
    """The download host could not be reached; the message says what to do instead."""


@dataclass(frozen=True)
class VerifyResult:
    ok: list[str]
    missing: list[str]
    mismatched: list[str]

    @property
    def passed(self) -> bool:
        return not self.missing and not self.mismatched


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(url: str, timeout: float = TIMEOUT_S) -> bytes:
    """Fetch `url` into memory, turning every network failure into an `Offline` message."""
    request = urllib.request.Request(url, headers={"User-Agent": "nfcodec-fetch/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
        raise Offline(
            f"could not download {url} ({exc}). This machine looks offline or the host is "
            "down: download the files elsewhere and copy the PNGs into the output folder (the "
            "harness accepts any folder of PNGs); for Kodak, "
            "`python scripts/fetch_datasets.py --verify DIR` then checks them."
        ) from None


def verify_kodak(folder: Path) -> VerifyResult:
    """Compare every expected Kodak file in `folder` with its pinned SHA-256."""
    ok, missing, mismatched = [], [], []
    for name, expected in KODAK_SHA256.items():
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif sha256_of(path.read_bytes()) != expected:
            mismatched.append(name)
        else:
            ok.append(name)
    return VerifyResult(ok, missing, mismatched)


def fetch_kodak(out: Path) -> None:
    """Download the 24 Kodak PNGs, skipping files already present with the right hash."""
    out.mkdir(parents=True, exist_ok=True)
    for name, expected in KODAK_SHA256.items():
        target = out / name
        if target.is_file() and sha256_of(target.read_bytes()) == expected:
            continue
        data = download(KODAK_URL.format(name=name))
        actual = sha256_of(data)
        if actual != expected:
            raise click.ClickException(
                f"{name}: SHA-256 {actual} does not match the pinned {expected}; not saved"
            )
        target.write_bytes(data)
        click.echo(f"{name} ok")


def fetch_clic(dataset: str, out: Path) -> None:
    """Download one CLIC zip, print its SHA-256, and unpack its PNG files flat into `out`."""
    url = CLIC_URLS[dataset]
    data = download(url, timeout=300.0)
    click.echo(f"{url}: {len(data)} bytes, SHA-256 {sha256_of(data)} (no pinned sum)")
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            name = Path(member.filename).name
            if member.is_dir() or not name.lower().endswith(".png") or name.startswith("."):
                continue
            with archive.open(member) as source, open(out / name, "wb") as target:
                shutil.copyfileobj(source, target)
            count += 1
    click.echo(f"unpacked {count} PNG files into {out}")


@click.command()
@click.option("--dataset", type=click.Choice(DATASETS), help="Which dataset to download.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Target folder.")
@click.option(
    "--verify",
    "verify_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Check a local Kodak folder against the pinned checksums (no network); with a "
    "CLIC --dataset, only counts its PNG files.",
)
def main(dataset: str | None, out: Path | None, verify_dir: Path | None) -> None:
    """Download Kodak or CLIC 2020 professional valid/test, or verify a local Kodak copy."""
    if verify_dir is not None and dataset not in (None, "kodak"):
        count = len(list(verify_dir.glob("*.png")))
        click.echo(f"{dataset}: {count} PNG files in {verify_dir}; no pinned checksums for CLIC")
        sys.exit(0 if count else 1)
    if verify_dir is not None:
        result = verify_kodak(verify_dir)
        for name in result.missing:
            click.echo(f"missing  {name}")
        for name in result.mismatched:
            click.echo(f"MISMATCH {name}")
        click.echo(f"{len(result.ok)}/{len(KODAK_SHA256)} Kodak files verified in {verify_dir}")
        sys.exit(0 if result.passed else 1)
    if dataset is None or out is None:
        raise click.UsageError("give --dataset and --out, or --verify DIR")
    try:
        if dataset == "kodak":
            fetch_kodak(out)
        else:
            fetch_clic(dataset, out)
    except Offline as exc:
        click.echo(f"offline: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
