"""vibeweaver (`studio vibeweaver`): the persistent Python kernel agents make music in."""
