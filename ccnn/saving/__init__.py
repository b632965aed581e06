"""ccnn.saving -- models on disk (keras_format: Keras 3 .keras and .weights.h5 files)."""
