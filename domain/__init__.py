"""The pure, event-sourced domain of the crowdfunding platform."""
