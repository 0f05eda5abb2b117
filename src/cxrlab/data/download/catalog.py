"""The catalog of public chest X-ray datasets ``cxrlab datasets`` knows.

Verification policy (see docs/demo.md, "Downloading datasets"):

* ``sha256`` set  -> the archive MUST hash to it; a mismatch deletes the download.
* ``sha256`` None -> not pinned: this catalog was written on an offline machine, so no checksum
  could be computed. The URL is instead pinned to an immutable revision where the host allows
  it (a git commit archive), the download must be complete (bytes == the server's stated length)
  and the archive must pass a full integrity test (every zip member's CRC / a full tar read).
  The SHA-256 is then printed and recorded next to the archive (trust on first use): a later
  download into the same folder must match it, and ``--sha256`` pins it explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from cxrlab.data.download.errors import DatasetError


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset: where its files are, what they may be used for, how to lay them out."""

    name: str
    title: str
    homepage: str
    license: str
    citation: str
    labels: str  # what the classes are, in words
    approx_size: str  # for display only ("1.2 GB"); exact size comes from the server
    layout: str  # how ``cxrlab index`` will read the extracted folder
    url: str | None = None  # None: needs an account, see manual_steps
    filename: str = ""  # archive name on disk
    sha256: str | None = None  # pinned checksum, when known
    revision: str = ""  # immutable revision the URL points at (git commit), when any
    strip_components: int = 0  # leading folders removed from every archive member
    layout_step: str = ""  # post-extraction step of cxrlab.data.download.layout ("" = none needed)
    manual_steps: tuple[str, ...] = ()
    notes: str = ""

    @property
    def manual(self) -> bool:
        return self.url is None

    @property
    def verification(self) -> str:
        """How a download of this entry is checked, in words."""
        if self.manual:
            return "manual download (account needed)"
        if self.sha256:
            return "SHA-256 pinned in the catalog"
        pinned = f"URL pinned to commit {self.revision[:12]}; " if self.revision else "URL not pinned; "
        return pinned + "completeness + archive integrity checked, SHA-256 recorded on first download"


def _github_archive(repo: str, commit: str) -> str:
    return f"https://github.com/{repo}/archive/{commit}.zip"


_IEEE_COMMIT = "cec70df07d40383581484c70bb6ada1e6a2fc077"
_ACTUALMED_COMMIT = "2635e4b05d2b59628edb10a6e16a506951c84c59"
_FIGURE1_COMMIT = "95bb569e55f4110d3b734c0f355340e04e16989a"
_COMMIT_NOTE = "Commit taken from a public snapshot of the repository; newer commits may exist upstream."


def _entries() -> tuple[DatasetEntry, ...]:
    return (
        DatasetEntry(
            name="ieee8023-covid",
            title="COVID-19 image data collection (Cohen et al.)",
            homepage="https://github.com/ieee8023/covid-chestxray-dataset",
            url=_github_archive("ieee8023/covid-chestxray-dataset", _IEEE_COMMIT),
            filename=f"covid-chestxray-dataset-{_IEEE_COMMIT[:12]}.zip",
            revision=_IEEE_COMMIT,
            strip_components=1,
            license="Per image, in the 'license' column of metadata.csv (Apache 2.0, CC BY-NC-SA 4.0, CC BY 4.0...); "
            "metadata.csv and scripts: CC BY-NC-SA 4.0.",
            citation="Cohen JP, Morrison P, Dao L, Roth K, Duong TQ, Ghassemi M. COVID-19 Image Data Collection: "
            "Prospective Predictions Are the Future. arXiv:2006.11988, 2020.",
            labels="COVID-19, other viral/bacterial/fungal pneumonias, No Finding (hierarchical 'finding' column)",
            approx_size="several hundred MB (estimate, not measured: the repository also holds CT volumes)",
            layout="metadata.csv + images/ (ieee8023 style)",
            notes="X-ray and CT rows are mixed; cxrlab index keeps X-ray images only. " + _COMMIT_NOTE,
        ),
        DatasetEntry(
            name="actualmed-covid",
            title="Actualmed COVID-19 Chest X-ray Dataset Initiative (COVID-Net team)",
            homepage="https://github.com/agchung/Actualmed-COVID-chestxray-dataset",
            url=_github_archive("agchung/Actualmed-COVID-chestxray-dataset", _ACTUALMED_COMMIT),
            filename=f"Actualmed-COVID-chestxray-dataset-{_ACTUALMED_COMMIT[:12]}.zip",
            revision=_ACTUALMED_COMMIT,
            strip_components=1,
            license="No license file. README: 'intended to be used for research purposes only'.",
            citation="Wang L, Lin ZQ, Wong A. COVID-Net: a tailored deep convolutional neural network design for "
            "detection of COVID-19 cases from chest X-ray images. Sci Rep 10, 19549 (2020). "
            "Data: Actualmed / Universitat Jaume I via the COVID-Net team.",
            labels="COVID-19, No finding, blank (inconclusive) in metadata.csv 'finding'",
            approx_size="a few hundred MB (estimate, not measured: full-resolution PNGs)",
            layout="metadata.csv + images/ (column 'imagename'); cxrlab writes manifest.csv from it",
            layout_step="covidnet-metadata",
            notes="Rows with a blank finding are 'Inconclusive' and carry no label. " + _COMMIT_NOTE,
        ),
        DatasetEntry(
            name="figure1-covid",
            title="Figure 1 COVID-19 Chest X-ray Dataset Initiative (COVID-Net team)",
            homepage="https://github.com/agchung/Figure1-COVID-chestxray-dataset",
            url=_github_archive("agchung/Figure1-COVID-chestxray-dataset", _FIGURE1_COMMIT),
            filename=f"Figure1-COVID-chestxray-dataset-{_FIGURE1_COMMIT[:12]}.zip",
            revision=_FIGURE1_COMMIT,
            strip_components=1,
            license="No license file. README: 'intended to be used for research purposes only'.",
            citation="Wang L, Lin ZQ, Wong A. COVID-Net (Sci Rep 2020); data: Figure 1 COVID-19 Chest X-ray Dataset "
            "Initiative, https://github.com/agchung/Figure1-COVID-chestxray-dataset",
            labels="COVID-19, No finding, Pneumonia, blank (unknown)",
            approx_size="about 30-60 MB (estimate)",
            layout="metadata.csv + images/<patientid>.jpg|png; cxrlab writes manifest.csv from it",
            layout_step="covidnet-metadata",
            notes="Small (~55 images). 'No finding' films come from COVID cases/suspects, not healthy controls. "
            "Commit 95bb569 is the repository head of 2020-05-08.",
        ),
        DatasetEntry(
            name="kermany-pneumonia",
            title="Kermany et al. pediatric chest X-ray (ChestXRay2017), Mendeley Data v2",
            homepage="https://data.mendeley.com/datasets/rscbjbr9sj/2",
            url="https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
            "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded",
            filename="ChestXRay2017.zip",
            license="CC BY 4.0",
            citation="Kermany D, Zhang K, Goldbaum M. Labeled Optical Coherence Tomography (OCT) and Chest X-Ray "
            "Images for Classification. Mendeley Data, v2, 2018. doi:10.17632/rscbjbr9sj.2",
            labels="NORMAL, PNEUMONIA (bacteria/virus in the file name)",
            approx_size="1.2 GB",
            layout="chest_xray/{train,test}/{NORMAL,PNEUMONIA} (Kermany style)",
            notes="Pediatric patients (1-5 years, Guangzhou). The Mendeley URL is not a pinned revision.",
        ),
        DatasetEntry(
            name="covid19-radiography-db",
            title="COVID-19 Radiography Database (Kaggle; Chowdhury, Rahman et al.)",
            homepage="https://www.kaggle.com/datasets/tawsifurrahman/covid19-radiography-database",
            filename="covid19-radiography-database.zip",
            license="See the Kaggle page (data collected from several sources with their own terms).",
            citation="Chowdhury MEH et al. Can AI help in screening viral and COVID-19 pneumonia? IEEE Access 8 (2020); "
            "Rahman T et al. Exploring the effect of image enhancement techniques on COVID-19 detection using "
            "chest X-ray images. Comput Biol Med 132 (2021).",
            labels="COVID, Normal, Lung_Opacity, Viral Pneumonia",
            approx_size="about 0.8 GB",
            layout="<CLASS>/images/*.png (class per folder)",
            manual_steps=(
                "Sign in to kaggle.com and accept the dataset's terms on its page (link above).",
                "Either click 'Download' on that page, or install the Kaggle CLI (pip install kaggle), put your API "
                "token in ~/.kaggle/kaggle.json and run:  kaggle datasets download -d "
                "tawsifurrahman/covid19-radiography-database -p {dest}",
                "Let cxrlab check and extract it (safe extraction, DATASET.txt with license and SHA-256):  "
                "cxrlab datasets download covid19-radiography-db --dest {dest} --archive "
                "{dest}/covid19-radiography-database.zip",
                "Index it:  cxrlab index {dest}/covid19-radiography-db",
            ),
            notes="Needs a Kaggle account. Images are 299x299 PNG; no patient ids (duplicates across classes exist).",
        ),
        DatasetEntry(
            name="rsna-pneumonia",
            title="RSNA Pneumonia Detection Challenge (Kaggle, 2018)",
            homepage="https://www.kaggle.com/competitions/rsna-pneumonia-detection-challenge",
            filename="rsna-pneumonia-detection-challenge.zip",
            license="Competition rules on Kaggle (NIH ChestX-ray14 images re-annotated by RSNA/STR radiologists).",
            citation="Shih G et al. Augmenting the National Institutes of Health Chest Radiograph Dataset with Expert "
            "Annotations of Possible Pneumonia. Radiol Artif Intell 1(1) (2019).",
            labels="Lung Opacity, Normal, No Lung Opacity / Not Normal (stage_2_detailed_class_info.csv)",
            approx_size="about 3.7 GB",
            layout="DICOM files + labels CSV (write a manifest.csv, see steps)",
            manual_steps=(
                "Sign in to kaggle.com, open the competition page (link above) and accept its rules.",
                "Install the Kaggle CLI (pip install kaggle), put your API token in ~/.kaggle/kaggle.json and run:  "
                "kaggle competitions download -c rsna-pneumonia-detection-challenge -p {dest}",
                "Extract it:  cxrlab datasets download rsna-pneumonia --dest {dest} --archive "
                "{dest}/rsna-pneumonia-detection-challenge.zip",
                "Write {dest}/rsna-pneumonia/manifest.csv with columns file,class,patient_id from "
                "stage_2_detailed_class_info.csv (file = stage_2_train_images/<patientId>.dcm, class = its 'class' "
                "value mapped to Lung_Opacity / Normal / Other).",
                "Index it:  cxrlab index {dest}/rsna-pneumonia",
            ),
            notes="Needs a Kaggle account and acceptance of the competition rules. DICOM, 1024x1024.",
        ),
    )


def _rebase(url: str, base_url: str) -> str:
    """Swap scheme and host of ``url`` for ``base_url`` (tests serve fixtures from a local server)."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return base_url.rstrip("/") + tail


def catalog(base_url: str | None = None) -> dict[str, DatasetEntry]:
    """All known datasets by name. ``base_url`` (e.g. ``http://127.0.0.1:8000``) replaces the
    scheme and host of every download URL, keeping the path - for mirrors and tests."""
    entries = _entries()
    if base_url:
        entries = tuple(replace(e, url=_rebase(e.url, base_url)) if e.url else e for e in entries)
    return {e.name: e for e in entries}


def get_entry(name: str, base_url: str | None = None) -> DatasetEntry:
    """One dataset by name; unknown names raise :class:`DatasetError` listing the known ones."""
    entries = catalog(base_url)
    if name not in entries:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(entries)} (see 'cxrlab datasets list')")
    return entries[name]


def manual_instructions(entry: DatasetEntry, dest: str) -> str:
    """The numbered steps to get a dataset that needs an account, with ``dest`` filled in."""
    lines = [f"{entry.title} needs an account and cannot be downloaded by cxrlab.", f"Page: {entry.homepage}"]
    lines += [f"  {i}. {step.format(dest=dest)}" for i, step in enumerate(entry.manual_steps, 1)]
    lines.append(f"License: {entry.license}")
    return "\n".join(lines)
