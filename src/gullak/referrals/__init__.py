"""Referrals and ambassadors: a referral recorded at sign-up and rewarded on both sides when
the referee meets the condition, refused for self-referral and rings; colleges, student
verification and ambassadors whose referrals earn commission."""
