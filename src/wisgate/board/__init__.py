"""The RAK7391 as data (datasheet tables) and the checks of a user's board description."""
