"""CS182 HW2 deep-learning package: RNN/LSTM layers, captioning model and helpers."""
