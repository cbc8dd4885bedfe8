"""Identity: users, OTP sign-in, sessions and tokens, devices, social accounts, addresses, KYC."""
