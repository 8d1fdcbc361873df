"""Neural-network building blocks shared by the models: encoders, attention, adaLN blocks,
parameter tokens, residual MLPs. No I/O and no training logic here."""
