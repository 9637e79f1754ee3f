"""Entry points and settings of the crowdfunding platform."""
