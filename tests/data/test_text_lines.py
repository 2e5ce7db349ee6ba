"""Text lines of an FKI database: reading them, where their words are, and training a line reader on them."""


from pathlib import Path

import pytest
from conftest import make_fki_lines, word_image

from wordspot.config import TrainConfig
from wordspot.data import DataWarning, open_lines
from wordspot.data.formats.fki_lines import word_positions


def test_lines_with_their_tokens_and_keywords(tmp_path):
    root = make_fki_lines(tmp_path / "db")
    with pytest.warns(DataWarning, match="1 of 4 keywords occur in no line"):
        src = open_lines(str(root), "cv1")
    assert {k: len(v) for k, v in src.subsets.items()} == {"train": 3, "valid": 1, "test": 1}
    first = src.subset("train")[0]
    assert first.text == "the cat." and src.tokens[first.key] == ["t-h-e", "c-a-t-s_pt"]
    assert first.page == "100" and src.keywords[:2] == ["t-h-e", "c-a-t"]


def test_a_line_without_words_and_a_missing_image_are_reported(tmp_path):
    root = make_fki_lines(tmp_path / "db")
    with open(root / "ground_truth" / "transcription.txt", "a") as f:
        f.write("102-01 \n102-02 n-o\n")
    with pytest.warns(DataWarning) as caught:
        src = open_lines(str(root), "none")
    said = " ".join(str(w.message) for w in caught)
    assert "1 line(s) without words left out; first 102-01" in said
    assert "1 of 6 transcribed lines have no image" in said and len(src.subset("all")) == 5


def test_word_positions_are_found_in_their_lines(tmp_path):
    root = make_fki_lines(tmp_path / "db")
    src = open_lines(str(root), "none")
    line = next(c for c in src.subset("all") if c.source.endswith("100-01.png"))
    found = word_positions(root, [line])[line.key]
    width = word_image("the").shape[1]
    assert [t for t, _, _ in found] == ["t-h-e", "c-a-t-s_pt"]
    assert found[0][1:] == (0, width) and found[1][1] == width + 14


@pytest.mark.train
def test_a_line_reader_trains_from_lines_alone_and_is_measured(tmp_path):
    from wordspot.evaluation.lines import evaluate_lines
    from wordspot.model.linereader import LineReader
    from wordspot.training.line_stage import train_lines

    root = make_fki_lines(tmp_path / "db")
    src = open_lines(str(root), "cv1")
    cfg = TrainConfig.from_dict({"seed": 0, "image_epochs": 3, "line_batch": 2, "model": {"image_height": 32}})
    reader = train_lines(cfg, tmp_path / "run", src.subset("train"), src.subset("valid"))
    assert " " in reader.alphabet.symbols and (tmp_path / "run" / "model.pt").is_file()
    again = LineReader.load(tmp_path / "run")
    assert again.model_id() == reader.model_id()
    res = evaluate_lines(reader, src.subset("test"), src.tokens, src.keywords,
                         word_positions(root, src.subset("test")))
    for protocol in ("exact", "folded"):
        assert 0.0 <= res[protocol]["gap"] <= 1.0 and 0.0 <= res[protocol]["map"] <= 1.0
        assert res[protocol]["keywords_with_relevant"] == 1  # "the" is the only keyword in the test line
    assert res["folded"]["localised_pairs"] == 1 and res["seconds_per_line"] > 0


PAGE_LINES = """<?xml version="1.0"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
<Page imageFilename="{image}" imageWidth="300" imageHeight="100"><TextRegion id="r1">
 <TextLine id="l1"><Coords points="10,10 200,10 200,40 10,40"/><TextEquiv><Unicode>the cat</Unicode></TextEquiv></TextLine>
 <TextLine id="l2"><Coords points="10,50 200,50 200,80 10,80"/>
   <Word id="w1"><Coords points="10,50 40,50 40,80 10,80"/><TextEquiv><Unicode>a</Unicode></TextEquiv></Word>
   <Word id="w2"><Coords points="50,50 90,50 90,80 50,80"/><TextEquiv><Unicode>dog</Unicode></TextEquiv></Word></TextLine>
 <TextLine id="l3"><Coords points=" "/><TextEquiv><Unicode>lost</Unicode></TextEquiv></TextLine>
 <TextLine id="l4"><Coords points="400,10 500,10 500,40 400,40"/><TextEquiv><Unicode>outside</Unicode></TextEquiv></TextLine>
</TextRegion></Page></PcGts>"""

ALTO_LINES = """<?xml version="1.0"?>
<alto><Description><MeasurementUnit>pixel</MeasurementUnit><sourceImageInformation><fileName>{image}</fileName>
</sourceImageInformation></Description><Layout><Page WIDTH="300" HEIGHT="100"><PrintSpace>
 <TextBlock><TextLine ID="t1" HPOS="5" VPOS="5" WIDTH="150" HEIGHT="30">
  <String CONTENT="and" HPOS="5" VPOS="5" WIDTH="40" HEIGHT="30"/><SP/>
  <String CONTENT="the" HPOS="60" VPOS="5" WIDTH="40" HEIGHT="30"/></TextLine></TextBlock>
</PrintSpace></Page></Layout></alto>"""


def test_page_and_alto_text_lines_are_lines_without_word_boxes(tmp_path):
    import cv2
    import numpy as np

    folder = tmp_path / "pages"
    folder.mkdir()
    for name, xml in (("p1", PAGE_LINES), ("p2", ALTO_LINES)):
        cv2.imwrite(str(folder / f"{name}.png"), np.full((100, 300), 255, np.uint8))
        (folder / f"{name}.xml").write_text(xml.format(image=f"{name}.png"))
    (folder / "keywords.txt").write_text("the\ndog\n")
    with pytest.warns(DataWarning) as caught:
        src = open_lines(str(folder), "none")
    said = " ".join(str(w.message) for w in caught)
    assert "TextLine l3 has no Coords points; line left out" in said and "TextLine l4" in said
    lines = src.subset("all")
    assert [(line.text, line.box, line.page) for line in lines] == [
        ("the cat", (10, 10, 200, 40), "p1"), ("a dog", (10, 50, 200, 80), "p1"), ("and the", (5, 5, 155, 35), "p2")]
    assert src.tokens[lines[1].key] == ["a", "dog"] and src.keywords == ["the", "dog"]
    assert len({line.key for line in lines}) == 3  # lines of one page image told apart by their boxes


def test_lines_of_another_database_keep_its_ids_tokens_letters_and_long_words(tmp_path):
    """Not George Washington: other line IDs, tokens without the s_ prefix (`pt`, `eq`, `hp115`), letters
    beyond ASCII and a word of 34 symbols, found in its line by the keyword scorer."""
    import cv2
    import numpy as np

    from wordspot.data.text import decode_fki
    from wordspot.evaluation.kws import relevance
    from wordspot.search.lines import keyword_scores
    root = tmp_path / "db"
    images = root / "data" / "line_images_normalized"
    images.mkdir(parents=True)
    (root / "ground_truth").mkdir()
    long = "-".join("abcdefghijklmnopqrstuvwxyzäöüſabcd")
    lines = {"csg562-003-01": ["v-hp115-a-l", "d-e-pt"], "csg562-003-02": [long, "ä-ſ-e-eq"],
             "csg562-004-01": ["v-hp115-a-l", "ä-ſ-e"]}
    for lid in lines:
        img = np.full((40, 300), 255, np.uint8)
        img[10:30, 20:280] = 0
        cv2.imwrite(str(images / f"{lid}.png"), img)
    (root / "ground_truth" / "transcription.txt").write_text("".join(f"{k} {'|'.join(v)}\n" for k, v in lines.items()))
    sets = root / "sets" / "cv1"
    sets.mkdir(parents=True)
    for name, lid in (("train", "csg562-003-01"), ("valid", "csg562-003-02"), ("test", "csg562-004-01")):
        (sets / f"{name}.txt").write_text(lid + "\n")
    (sets / "keywords.txt").write_text("v-hp115-a-l\n")
    from wordspot.data import DataError, open_source
    with pytest.raises(DataError, match="no ground_truth/word_labels.txt.*--lines"):
        open_source(str(root), "cv1")  # lines alone: no words to open, and the way to its lines said
    src = open_lines(str(root), "cv1")
    test = src.subset("test")[0]
    assert test.page == "csg562-004" and test.text == "v\ue53bal äſe"  # hp115: one symbol of its own
    assert src.subset("train")[0].text == "v\ue53bal de." and src.subset("valid")[0].text.endswith("äſe-")
    keys, rel = relevance([src.tokens[test.key]], src.keywords, fold=True)
    assert keys == ["v\ue53bal"] and rel.all()  # folding keeps the coded letter
    texts = [c.text for c in src.subset("all")]
    symbols = sorted({ch for t in texts for ch in t} | {" "})

    def reading(text: str) -> np.ndarray:  # a reader sure of `text`
        frames = np.full((2 * len(text), len(symbols) + 1), -9.0)
        frames[0::2][np.arange(len(text)), [symbols.index(ch) for ch in text]] = -0.01
        frames[1::2, -1] = -0.01
        return frames
    for word, holds in ((decode_fki(long), 1), ("v\ue53bal", 0)):
        scores, spans = keyword_scores([reading(t) for t in texts], symbols, word, fold=True)
        assert scores[holds] == pytest.approx(0, abs=1e-3) and all(s < -8 for i, s in enumerate(scores) if texts[i].split()[0] != word)
        assert spans[holds] == (0, 2 * len(word) - 2)  # the whole first word, blanks between its symbols


TRANSKRIBUS_PAGE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <Metadata><Creator>prov=READ-COOP:name=PyXRIF:version=2.8.1;UNICODE-8</Creator>
  <Created>2026-11-02T10:11:12.000+01:00</Created><LastChange>2026-11-03T09:00:00.000+01:00</LastChange>
  <TranskribusMetadata docId="1" pageId="2" pageNr="1" tsid="3" status="GT" userId="4"/></Metadata>
 <Page imageFilename="0001_scan.png" imageWidth="400" imageHeight="120">
  <ReadingOrder><OrderedGroup id="ro_1" caption="Regions reading order"><RegionRefIndexed index="0" regionRef="r1"/>
  </OrderedGroup></ReadingOrder>
  <TextRegion orientation="0.0" id="r1" custom="readingOrder {index:0;}"><Coords points="5,5 395,5 395,115 5,115"/>
   <TextLine id="r1l1" custom="readingOrder {index:0;}">
    <Coords points="10,10 200,10 390,30 390,60 200,45 10,45"/><Baseline points="10,40 390,55"/>
    <TextEquiv><Unicode>the cat</Unicode></TextEquiv></TextLine>
   <TextLine id="r1l2" custom="readingOrder {index:1;}">
    <Coords points="10,70 390,70 390,110 10,110"/><Baseline points="10,100 390,100"/>
    <TextEquiv><Unicode>a dog</Unicode></TextEquiv></TextLine>
   <TextEquiv><Unicode>the cat
a dog</Unicode></TextEquiv></TextRegion></Page></PcGts>"""

PAGE_2010 = """<?xml version="1.0"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19"><Page imageFilename="old.png"
 imageWidth="400" imageHeight="120"><TextRegion id="r"><Coords><Point x="0" y="0"/><Point x="400" y="0"/>
 <Point x="400" y="120"/></Coords><TextLine id="l"><Coords><Point x="10" y="20"/><Point x="300" y="20"/>
 <Point x="300" y="60"/><Point x="10" y="60"/></Coords><TextEquiv><Unicode>and the</Unicode></TextEquiv>
 </TextLine></TextRegion></Page></PcGts>"""

KRAKEN_ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <Description><MeasurementUnit>pixel</MeasurementUnit><sourceImageInformation><fileName>k.png</fileName>
 </sourceImageInformation><OCRProcessing ID="OCR_0"><ocrProcessingStep><processingSoftware>
 <softwareName>kraken</softwareName></processingSoftware></ocrProcessingStep></OCRProcessing></Description>
 <Tags><OtherTag ID="TYPE_1" LABEL="default" TYPE="baseline"/></Tags>
 <Layout><Page WIDTH="400" HEIGHT="120" PHYSICAL_IMG_NR="0" ID="page_0"><PrintSpace HPOS="0" VPOS="0" WIDTH="400"
  HEIGHT="120"><TextBlock ID="block_0"><TextLine ID="line_0" HPOS="10" VPOS="10" WIDTH="380" HEIGHT="50"
   BASELINE="10 40 390 55" TAGREFS="TYPE_1"><Shape><Polygon POINTS="10 10 200 10 390 30 390 60 200 45 10 45"/></Shape>
   <String ID="s0" CONTENT="the" HPOS="10" VPOS="10" WIDTH="60" HEIGHT="35" WC="0.97"/><SP WIDTH="10"/>
   <String ID="s1" CONTENT="cat" HPOS="80" VPOS="10" WIDTH="60" HEIGHT="35" WC="0.95"/></TextLine>
 </TextBlock></PrintSpace></Page></Layout></alto>"""


def test_lines_of_real_exports_transkribus_page_2010_and_kraken_alto(tmp_path):
    """The layouts real tools export: Transkribus's PAGE 2013 (images one folder above page/, polygons,
    baselines, a region's TextEquiv beside its lines'), PAGE 2010 (Point children), kraken's ALTO 4
    (Shape/Polygon, BASELINE); a slanted line's polygon masks the neighbouring line's strokes in its box."""
    import cv2
    import numpy as np

    from wordspot.data.imaging import crop_part, read_grey
    export = tmp_path / "export" / "doc"
    (export / "page").mkdir(parents=True)
    page = np.full((120, 400), 230, np.uint8)  # grey paper
    page[50:60, 20:60] = 0  # ink inside line 1's box but below its slanted polygon (line 2's ascender)
    page[20:30, 20:60] = 10  # ink of line 1
    for name in ("0001_scan.png", "old.png", "k.png"):
        cv2.imwrite(str(export / name), page)
    (export / "page" / "0001_scan.xml").write_text(TRANSKRIBUS_PAGE)
    (export / "page" / "old.xml").write_text(PAGE_2010)
    (export / "page" / "k.xml").write_text(KRAKEN_ALTO)
    src = open_lines(str(export / "page"), "none")
    lines = src.subset("all")
    got = {(line.page, line.text): line for line in lines}
    from wordspot.data.report import check_lines
    from wordspot.data.text import TextNorm
    assert "special_tokens" not in check_lines(src, TextNorm(), False)  # plain words, not FKI tokens
    assert set(got) == {("0001_scan", "the cat"), ("0001_scan", "a dog"), ("old", "and the"), ("k", "the cat")}
    assert all(Path(line.source).parent == export for line in lines)  # the images one folder up
    assert got[("old", "and the")].box == (10, 20, 300, 60)
    for key in (("0001_scan", "the cat"), ("k", "the cat")):
        line = got[key]
        assert line.box == (10, 10, 390, 60) and len(line.outline) == 6
        part = crop_part(read_grey(line.source), line)
        assert part.shape == (50, 380)
        assert (part[40:50, 10:50] == 230).all()  # the other line's ink, outside the polygon: paper now
        assert (part[10:20, 10:50] == 10).all()  # its own ink kept
    rect = got[("0001_scan", "a dog")]
    assert (crop_part(read_grey(rect.source), rect) == page[70:110, 10:390]).all()  # a rectangle masks nothing
