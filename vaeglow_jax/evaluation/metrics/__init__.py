"""Feature spaces (Inception, the offline classifier) and the scores computed in them (FID, KID,
precision / recall, registered in `scores.SCORES`), and every metrics.json key (`keys`)."""
