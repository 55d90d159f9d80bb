"""
Loading and handling of the COCO captioning data set used by the assignment.

The data directory holds the files written by the course's download script:

- coco2014_captions.h5: datasets train_captions (int32, (N_train, 17)),
  train_image_idxs (int32, (N_train,)), val_captions and val_image_idxs;
  caption i belongs to image train_image_idxs[i]
- train2014_vgg16_fc7_pca.h5 / train2014_vgg16_fc7.h5 and the matching val2014_
  files: dataset features, one row of image features per image
- coco2014_vocab.json: idx_to_word (list) and word_to_idx (dict)
- train2014_urls.txt / val2014_urls.txt: the URL of each image, one per line

The default directory is datasets/coco_captioning next to this file; set the
environment variable COCO_DATA_DIR to use another one.
"""
import json
import os

import h5py
import numpy as np

_DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'datasets', 'coco_captioning')
BASE_DIR = os.environ.get('COCO_DATA_DIR') or _DEFAULT_DIR


def load_coco_data(base_dir=BASE_DIR, max_train=None, pca_features=True):
    """
    Load the captioning data set into a dictionary.

    Inputs:
    - base_dir: Directory holding the data files (see the module docstring)
    - max_train: If given, keep only this many training captions, drawn at
      random (with replacement) with np.random.randint
    - pca_features: If True use the PCA-reduced image features, otherwise the
      full fc7 features

    Returns a dictionary with the keys train_captions, train_image_idxs,
    val_captions, val_image_idxs (numpy arrays), train_features, val_features
    (numpy arrays with one row per image), idx_to_word (list), word_to_idx
    (dict), train_urls and val_urls (numpy arrays of str, one per image).
    """
    base_dir = os.fspath(base_dir)
    data = {}

    with h5py.File(os.path.join(base_dir, 'coco2014_captions.h5'), 'r') as f:
        for name, dataset in f.items():
            data[name] = np.asarray(dataset)

    suffix = '_pca' if pca_features else ''
    for split in ('train', 'val'):
        path = os.path.join(base_dir, '%s2014_vgg16_fc7%s.h5' % (split, suffix))
        with h5py.File(path, 'r') as f:
            data['%s_features' % split] = np.asarray(f['features'])

    with open(os.path.join(base_dir, 'coco2014_vocab.json'), 'r') as f:
        vocab = json.load(f)
    for name, value in vocab.items():
        data[name] = value

    for split in ('train', 'val'):
        path = os.path.join(base_dir, '%s2014_urls.txt' % split)
        with open(path, 'r') as f:
            data['%s_urls' % split] = np.asarray([line.strip() for line in f])

    if max_train is not None:
        num_train = data['train_captions'].shape[0]
        keep = np.random.randint(num_train, size=max_train)
        data['train_captions'] = data['train_captions'][keep]
        data['train_image_idxs'] = data['train_image_idxs'][keep]

    return data


def decode_captions(captions, idx_to_word):
    """
    Turn caption indices back into text.

    Inputs:
    - captions: Integer array of word indices, either of shape (T,) for a single
      caption or of shape (N, T) for N captions
    - idx_to_word: Sequence mapping each index to its word

    Returns a string for a 1-D input, or a list of N strings for a 2-D input.
    The words are joined by single spaces; <NULL> tokens are left out, and each
    caption stops after its first <END> token (which is kept).
    """
    captions = np.asarray(captions)
    single = captions.ndim == 1
    if single:
        captions = captions[np.newaxis, :]

    decoded = []
    for row in captions:
        words = []
        for idx in row:
            word = idx_to_word[int(idx)]
            if word != '<NULL>':
                words.append(word)
            if word == '<END>':
                break
        decoded.append(' '.join(words))

    return decoded[0] if single else decoded


def sample_coco_minibatch(data, batch_size=100, split='train'):
    """
    Draw a random minibatch of captions (with replacement) from one split.

    Inputs:
    - data: Dictionary returned by load_coco_data
    - batch_size: Number of captions to draw
    - split: 'train' or 'val'

    Returns a tuple of:
    - captions: Integer array of shape (batch_size, T)
    - image_features: Features of each caption's image, of shape (batch_size, D)
    - urls: Array of batch_size strings, the URL of each caption's image
    """
    num_captions = data['%s_captions' % split].shape[0]
    picks = np.random.choice(num_captions, batch_size)
    captions = data['%s_captions' % split][picks]
    image_idxs = data['%s_image_idxs' % split][picks]
    image_features = data['%s_features' % split][image_idxs]
    urls = data['%s_urls' % split][image_idxs]
    return captions, image_features, urls
