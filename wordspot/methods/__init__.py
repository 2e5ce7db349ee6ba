"""Methods (LSDE, PHOC and both): what each says of words, images, losses and distances."""
