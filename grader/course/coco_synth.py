"""A small synthetic captioning data set in the course's COCO file layout.

The real data (about 1 GB) is neither shipped nor downloaded. The overfit
checks only need a few dozen captions whose words follow from the image
features, so ``write_synthetic_coco`` writes such a set, in exactly the files
and formats that ``deeplearning.coco_utils.load_coco_data`` reads:

- ``coco2014_captions.h5``: int32 datasets ``train_captions`` (N_train, 17),
  ``train_image_idxs`` (N_train,), ``val_captions``, ``val_image_idxs``
- ``train2014_vgg16_fc7_pca.h5`` / ``train2014_vgg16_fc7.h5`` and the
  ``val2014_`` files: float32 dataset ``features`` (num_images, FEATURE_DIM)
- ``coco2014_vocab.json``: ``idx_to_word`` (list) and ``word_to_idx`` (dict)
- ``train2014_urls.txt`` / ``val2014_urls.txt``: one (fake) URL per image

Each image is a random scene (colour, size, subject, action, place and maybe
an object) and its features are a fixed random embedding of that scene plus a
little noise. Captions describe the scene in a small grammar, are 7 to 12
words long, start with ``<START>``, end with ``<END>`` and are padded with
``<NULL>``; a few rare words are written as ``<UNK>``. All captions of one
image are the same sentence, so a small sample can be memorised down to zero
loss (with real COCO a 50-caption sample almost never holds two different
captions of one image; here three of a hundred images' captions would).

The output depends only on ``seed``: the same call writes the same values (and
the same bytes) every time. The whole set is well under 100 kB.
"""
import json
import os

import h5py
import numpy as np

FEATURE_DIM = 32
MAX_CAPTION_LENGTH = 17          # <START> + up to 15 words + <END>, as in COCO
NUM_TRAIN_IMAGES = 100
CAPTIONS_PER_TRAIN_IMAGE = 3
NUM_VAL_IMAGES = 40
CAPTIONS_PER_VAL_IMAGE = 2
DEFAULT_SEED = 2019  # the seed grader/fixturegen.py writes fixtures/coco_synth with

SPECIAL_TOKENS = ['<NULL>', '<START>', '<END>', '<UNK>']
COLOURS = ['red', 'blue', 'green', 'white', 'black', 'brown']
SIZES = ['small', 'large']
SUBJECTS = ['dog', 'cat', 'horse', 'bird', 'man', 'woman']
ACTIONS = ['sitting', 'standing', 'running', 'sleeping']
PLACES = ['grass', 'beach', 'street', 'table', 'field', 'snow']
OBJECTS = ['ball', 'hat', 'kite', 'bag']
FUNCTION_WORDS = ['a', 'the', 'on', 'near', 'with', 'and', 'next', 'to']
# Rare words: they occur in scenes but the vocabulary does not keep them, so
# captions say <UNK> instead (like COCO's words below the frequency cut-off).
RARE_OBJECTS = ['umbrella', 'frisbee']

VOCAB = SPECIAL_TOKENS + FUNCTION_WORDS + COLOURS + SIZES + SUBJECTS + ACTIONS + PLACES + OBJECTS

# Overfit set-ups for the checks that train a CaptioningRNN with
# CaptioningSolver on this data set, as the notebooks' "Overfit small data"
# cells do: np.random.seed(seed); data = load_coco_data(base_dir,
# max_train=max_train); model = CaptioningRNN(cell_type=..., word_to_idx=
# data['word_to_idx'], input_dim=data['train_features'].shape[1],
# hidden_dim=..., wordvec_dim=..., dtype=np.float32); solver =
# CaptioningSolver(model, data, update_rule='adam', num_epochs=...,
# batch_size=..., optim_config={'learning_rate': ...}, lr_decay=...,
# verbose=False); solver.train(); pass when solver.loss_history[-1] <
# threshold (the notebooks' thresholds: 0.1 for the RNN, 0.5 for the LSTM).
#
# Measured with the reference solution on the data of write_synthetic_coco(dir)
# (default seed 2019, as in fixtures/coco_synth), numpy 2.2.6, one core of a
# 2-core CPU (OPENBLAS_NUM_THREADS=1), 200 iterations each (50 captions / batch
# 25 = 2 per epoch, 100 epochs), final loss recomputed by the grader:
# - rnn:  0.023 against the threshold 0.1 (4.3x margin), 1.1 CPU-s; over 20
#   runs (data seeds 2019, 182, 1, 2 x training seeds 231, 0, 1, 2, 3) 0.021
#   to 0.038 (2.6x).
# - lstm: 0.094 against the threshold 0.5 (5.3x margin), 1.3-1.5 CPU-s; over
#   the same 20 runs 0.082 to 0.148 (3.4x).
# 150 epochs (the first setting) reached 0.015-0.026 and 0.046-0.071 for 1.8
# and 2.5 CPU-s: two thirds of the iterations keep the margins above 2.5x and
# take 1.7 CPU-s off every grade (a tenth of a cs182_hw2 grade).  Both start
# near 38, and the trained models sample every training caption back word for
# word.
OVERFIT_CONFIG = {
    'rnn': {
        'seed': 231,
        'max_train': 50,
        'hidden_dim': 128,
        'wordvec_dim': 64,
        'num_epochs': 100,
        'batch_size': 25,
        'learning_rate': 1e-2,
        'lr_decay': 0.99,
        'threshold': 0.1,
    },
    'lstm': {
        'seed': 231,
        'max_train': 50,
        'hidden_dim': 64,
        'wordvec_dim': 32,
        'num_epochs': 100,
        'batch_size': 25,
        'learning_rate': 1e-2,
        'lr_decay': 0.995,
        'threshold': 0.5,
    },
}


def _scene_sentence(scene):
    """The caption words (without <START>/<END>) describing one scene."""
    words = ['a']
    if scene['size'] is not None:
        words.append(scene['size'])
    words += [scene['colour'], scene['subject'], scene['action']]
    if scene['place_style'] == 0:
        words += ['on', 'the', scene['place']]
    elif scene['place_style'] == 1:
        words += ['near', 'the', scene['place']]
    else:
        words += ['next', 'to', 'the', scene['place']]
    if scene['object'] is not None:
        obj = scene['object']
        words += ['with', 'a', obj if obj in VOCAB else '<UNK>']
    return words


def _random_scene(rng):
    objects = OBJECTS + RARE_OBJECTS
    return {
        'colour': COLOURS[rng.randint(len(COLOURS))],
        'size': SIZES[rng.randint(len(SIZES))] if rng.rand() < 0.5 else None,
        'subject': SUBJECTS[rng.randint(len(SUBJECTS))],
        'action': ACTIONS[rng.randint(len(ACTIONS))],
        'place': PLACES[rng.randint(len(PLACES))],
        'place_style': int(rng.randint(3)),
        'object': objects[rng.randint(len(objects))] if rng.rand() < 0.5 else None,
    }


def _encode(words, word_to_idx):
    row = np.full(MAX_CAPTION_LENGTH, word_to_idx['<NULL>'], dtype=np.int32)
    tokens = ['<START>'] + words + ['<END>']
    assert len(tokens) <= MAX_CAPTION_LENGTH
    row[:len(tokens)] = [word_to_idx[w] for w in tokens]
    return row


def _features(scenes, table, rng):
    """Sum of the embedding rows of each scene's attributes, plus noise."""
    feats = np.zeros((len(scenes), FEATURE_DIM))
    for n, scene in enumerate(scenes):
        for key in ('colour', 'size', 'subject', 'action', 'place', 'object'):
            feats[n] += table[(key, scene[key])]
        feats[n] += table[('place_style', scene['place_style'])]
    feats += 0.1 * rng.randn(*feats.shape)
    return feats.astype(np.float32)


def _write_h5(path, datasets):
    with h5py.File(path, 'w', track_order=False) as f:
        for name, value in datasets:
            f.create_dataset(name, data=value, track_times=False)


def write_synthetic_coco(out_dir, seed=DEFAULT_SEED):
    """
    Write the synthetic captioning data set into out_dir (created if missing).

    Inputs:
    - out_dir: Directory to write the files into
    - seed: Seed of the numpy.random.RandomState that draws everything

    Returns out_dir as a str.
    """
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(seed)

    idx_to_word = list(VOCAB)
    word_to_idx = {w: i for i, w in enumerate(idx_to_word)}

    # One random vector per attribute value; None (attribute absent) maps to 0.
    table = {}
    attributes = [('colour', COLOURS), ('size', SIZES), ('subject', SUBJECTS),
                  ('action', ACTIONS), ('place', PLACES), ('place_style', [0, 1, 2]),
                  ('object', OBJECTS + RARE_OBJECTS)]
    for key, values in attributes:
        for value in values:
            table[(key, value)] = rng.randn(FEATURE_DIM)
        table[(key, None)] = np.zeros(FEATURE_DIM)
    # A second, unrelated view of the same scenes stands in for the full
    # (non-PCA) fc7 features.
    mixing = rng.randn(FEATURE_DIM, FEATURE_DIM) / np.sqrt(FEATURE_DIM)

    splits = {}
    for split, num_images, per_image in (('train', NUM_TRAIN_IMAGES, CAPTIONS_PER_TRAIN_IMAGE),
                                         ('val', NUM_VAL_IMAGES, CAPTIONS_PER_VAL_IMAGE)):
        scenes = [_random_scene(rng) for _ in range(num_images)]
        pca = _features(scenes, table, rng)
        full = (pca.astype(np.float64).dot(mixing)).astype(np.float32)
        image_idxs = np.repeat(np.arange(num_images, dtype=np.int32), per_image)
        image_idxs = image_idxs[rng.permutation(image_idxs.size)]
        captions = np.stack([_encode(_scene_sentence(scenes[i]), word_to_idx)
                             for i in image_idxs]).astype(np.int32)
        urls = ['http://images.cocodataset.invalid/%s2014/COCO_%s2014_%012d.jpg'
                % (split, split, 1000 + 7 * i) for i in range(num_images)]
        splits[split] = (captions, image_idxs, pca, full, urls)

    _write_h5(os.path.join(out_dir, 'coco2014_captions.h5'),
              [('train_captions', splits['train'][0]),
               ('train_image_idxs', splits['train'][1]),
               ('val_captions', splits['val'][0]),
               ('val_image_idxs', splits['val'][1])])
    for split, (_, _, pca, full, urls) in splits.items():
        _write_h5(os.path.join(out_dir, '%s2014_vgg16_fc7_pca.h5' % split), [('features', pca)])
        _write_h5(os.path.join(out_dir, '%s2014_vgg16_fc7.h5' % split), [('features', full)])
        with open(os.path.join(out_dir, '%s2014_urls.txt' % split), 'w', newline='\n') as f:
            f.write(''.join(url + '\n' for url in urls))

    with open(os.path.join(out_dir, 'coco2014_vocab.json'), 'w') as f:
        json.dump({'idx_to_word': idx_to_word, 'word_to_idx': word_to_idx}, f)

    return out_dir


if __name__ == '__main__':
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir')
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    print(write_synthetic_coco(args.out_dir, seed=args.seed))
