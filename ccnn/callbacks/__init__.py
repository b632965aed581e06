"""ccnn.callbacks -- Keras's fit callbacks, one module each (as Keras 3's
keras/src/callbacks/): History, ProgbarLogger, EarlyStopping,
ModelCheckpoint, TerminateOnNaN, LearningRateScheduler, ReduceLROnPlateau,
CSVLogger, LambdaCallback, TensorBoard, BackupAndRestore, and the Callback base class to write
your own.

    model.fit(x, y, validation_split=0.2, callbacks=[
        EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
        ModelCheckpoint("best.weights.npz", save_best_only=True)])
"""
from .backup_and_restore import BackupAndRestore
from .callback import Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .progbar_logger import ProgbarLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "TerminateOnNaN", "TensorBoard", "LearningRateScheduler", "ReduceLROnPlateau",
           "CSVLogger", "LambdaCallback", "BackupAndRestore"]
