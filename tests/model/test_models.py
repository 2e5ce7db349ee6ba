import numpy as np
import pytest
import torch

from wordspot.data.text import Alphabet
from wordspot.model.embedder import Embedder, ModelConfig
from wordspot.model.networks import ImageCNN, ReaderCNN, StringCNN


def test_string_cnn_shapes():
    net = StringCNN(alphabet_size=5, max_len=10, dim=16, channels=8, hidden=32)
    assert net(torch.zeros(3, 5, 10)).shape == (3, 16)


def _alone_and_padded() -> tuple[torch.Tensor, torch.Tensor]:
    """A 40-pixel-wide image alone, and the same image padded to 120 in a batch beside a wider one."""
    rng = np.random.default_rng(0)
    small = torch.from_numpy(rng.random((1, 1, 32, 40), dtype=np.float32))
    wide = torch.zeros(2, 1, 32, 120)
    wide[0, :, :, :40] = small[0]
    wide[1] = torch.from_numpy(rng.random((1, 32, 120), dtype=np.float32))
    return small, wide


def test_image_embedding_does_not_depend_on_batch_padding():
    torch.manual_seed(0)
    net = ImageCNN(dim=8, channels=(4, 8, 8, 8), blocks=(1, 1, 1, 1), hidden=16).eval()
    small, wide = _alone_and_padded()
    with torch.no_grad():
        alone = net(small, torch.tensor([40]))
        batched = net(wide, torch.tensor([40, 120]))
    torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("branch", [False, True])
def test_reader_and_its_phoc_head_do_not_depend_on_batch_padding(branch):
    torch.manual_seed(0)
    net = ReaderCNN(6, 32, channels=(4, 8, 8, 8), blocks=(1, 1, 1, 1), hidden=8, aux_dim=5, aux_hidden=16,
                    aux_branch=branch).eval()
    small, wide = _alone_and_padded()
    with torch.no_grad():
        logp, frames, aux = net(small, torch.tensor([40]), aux=True)
        logp_b, frames_b, aux_b = net(wide, torch.tensor([40, 120]), aux=True)
    assert frames_b.tolist() == [frames.item(), 30]
    torch.testing.assert_close(logp[:, 0], logp_b[: frames.item(), 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(aux[0], aux_b[0], atol=1e-5, rtol=1e-4)


def test_a_phoc_branch_leaves_the_readers_last_stage_to_reading():
    torch.manual_seed(0)
    net = ReaderCNN(6, 32, channels=(4, 8, 8, 8), blocks=(1, 1, 1, 1), hidden=8, aux_dim=5, aux_hidden=16,
                    aux_branch=True)
    _, _, aux = net(torch.rand(2, 1, 32, 60), torch.tensor([60, 50]), aux=True)
    aux.sum().backward()
    assert all(p.grad is None for p in net.stages[-1].parameters())  # reading's own stage: untouched
    assert all(p.grad is not None for p in net.aux_stage.parameters())
    assert all(p.grad is not None for p in net.stages[0].parameters())  # the early stages are shared


def test_embedder_orders_image_results_like_its_input():
    emb = Embedder(ModelConfig(dim=8, image_height=16, image_channels=[4, 4, 4, 4], image_blocks=[1, 1, 1, 1],
                               image_hidden=16, string_channels=8, string_hidden=16), Alphabet("ab"))
    rng = np.random.default_rng(1)
    imgs = [rng.random((16, w), dtype=np.float32) for w in (50, 10, 30)]
    together = emb.embed_images(imgs, batch_size=2)
    for im, row in zip(imgs, together):
        np.testing.assert_allclose(emb.embed_images([im])[0], row, atol=1e-5)


def test_soft_onehot_of_a_sure_reading_is_the_words_onehot():
    from wordspot.data.text import Alphabet
    from wordspot.model.networks import soft_onehot
    al = Alphabet("abcr")
    A = len(al)
    # frames: c c - a r r - (blank is class A); a sure best path reading "car"
    path = [al.index["c"], al.index["c"], A, al.index["a"], al.index["r"], al.index["r"], A]
    logp = torch.full((len(path), 1, A + 1), -30.0)
    for t, c in enumerate(path):
        logp[t, 0, c] = 0.0
    soft = soft_onehot(logp, torch.tensor([len(path)]), 6, both_ends=True)
    expected = torch.from_numpy(al.onehot(["car"], 6, both_ends=True))
    assert torch.allclose(soft, expected, atol=1e-6)
    # a reading of "aa" needs a blank between the two a's; without one it is a single "a"
    logp2 = torch.full((3, 1, A + 1), -30.0)
    logp2[:, 0, al.index["a"]] = 0.0
    assert torch.allclose(soft_onehot(logp2, torch.tensor([3]), 6, False),
                          torch.from_numpy(al.onehot(["a"], 6)), atol=1e-6)
