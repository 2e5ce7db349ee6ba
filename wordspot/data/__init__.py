"""Data: the word-crop record, data set formats and their splits, page files, text, images, the built-in set."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, {
    "Crop": "sample", "WordSample": "sample", "Source": "sample", "DataError": "sample", "DataWarning": "sample",
    "FORMATS": "formats", "detect": "formats", "open_source": "formats", "open_lines": "formats", "list_splits": "formats",
    "load_fki": "formats", "load_iam": "formats", "load_pages": "formats", "load_labels": "formats",
    "load_folder": "formats", "SUBSETS": "splits", "SPLIT_FILES": "splits", "find_splits": "splits",
    "match_split": "splits", "check": "report", "check_lines": "report", "ImageCache": "imaging", "collect_crops": "crops",
})
