"""Line images for the reader: cut from their page when they have a box, a bare page refused with the way on."""

import cv2
import numpy as np

from wordspot.data import Crop
from wordspot.model.linereader import load_lines


def test_lines_with_a_box_are_cut_from_their_page_and_a_bare_page_is_refused(tmp_path):
    page = np.full((800, 600), 255, np.uint8)  # portrait, as a page is
    cv2.putText(page, "the cat", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2)
    cv2.imwrite(str(tmp_path / "p.png"), page)
    cv2.imwrite(str(tmp_path / "line.png"), page[30:80])
    lines = [Crop(str(tmp_path / "p.png"), "p", (10, 30, 300, 80), "the cat"),
             Crop(str(tmp_path / "p.png"), "p", (10, 100, 300, 150), ""),
             Crop(str(tmp_path / "line.png"), "line"),
             Crop(str(tmp_path / "p.png"), "p")]  # the whole page as if it were a line
    kept, images, bad = load_lines(lines, 32)
    assert kept == [0, 1, 2] and [im.height for im in images] == [50, 50, 50]
    assert all(im.image.shape[0] == 32 for im in images)
    assert list(bad) == [lines[3].key] and "looks like a page" in bad[lines[3].key]
    # the columns of a span map back into the line's own pixels, past its trimmed margin
    first = images[0]
    x1, x2 = first.columns((0, 3), 4)
    assert first.lo <= x1 < x2 <= 290 + 1e-6
