"""pipeline.training.translator.batches at the edges: empty sets, sets smaller than a batch, bad sizes (issue 22)."""

import pytest
import torch

from pipeline.training.translator import batches


def as_lists(found) -> list[list[int]]:
    return [b.tolist() for b in found]


@pytest.mark.parametrize("size", [0, -3])
def test_a_batch_size_below_1_is_an_error_at_the_call(size):
    with pytest.raises(ValueError, match=f"^batch size must be at least 1, got {size}$"):
        batches(10, size)
    with pytest.raises(ValueError, match="at least 1"):
        batches(10, size, torch.Generator().manual_seed(0))


def test_an_empty_set_gives_no_batch():
    assert as_lists(batches(0, 4)) == []
    assert as_lists(batches(0, 4, torch.Generator().manual_seed(0))) == []


def test_in_order_every_item_once_the_last_batch_short():
    assert as_lists(batches(10, 4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert as_lists(batches(3, 8)) == [[0, 1, 2]]


def test_shuffled_full_batches_only_in_the_seeded_order():
    order = torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()
    found = as_lists(batches(10, 4, torch.Generator().manual_seed(5)))
    assert found == [order[0:4], order[4:8]]  # the remainder (2 items) waits for another epoch
    assert as_lists(batches(12, 4, torch.Generator().manual_seed(5))) == as_lists(batches(12, 4, torch.Generator().manual_seed(5)))


def test_shuffled_a_set_smaller_than_the_batch_is_one_batch_of_all_of_it():
    order = torch.randperm(3, generator=torch.Generator().manual_seed(1)).tolist()
    assert as_lists(batches(3, 8, torch.Generator().manual_seed(1))) == [order]
    assert sorted(order) == [0, 1, 2]
    assert as_lists(batches(1, 64, torch.Generator().manual_seed(1))) == [[0]]
