<?php
/**
 * Version information (the layout of Joomla 2.5's libraries/cms/version/version.php; lab fixture of fracto.hosting).
 */
defined('_JEXEC') or die;

final class JVersion
{
	public $PRODUCT = 'Joomla!';
	public $RELEASE = '2.5';
	public $DEV_STATUS = 'Stable';
	public $DEV_LEVEL = '28';
	public $BUILD = '';
	public $CODENAME = 'Ember';
	public $RELDATE = '08-December-2014';
	public $RELTIME = '14:00';
	public $RELTZ = 'GMT';

	public function getShortVersion()
	{
		return $this->RELEASE . '.' . $this->DEV_LEVEL;
	}
}
